//! The page and the state its sections share.

use layerize_core::manifest::Manifest;
use layerize_core::mutate::Appended;
use layerize_core::Reference;
use leptos::prelude::*;
use web_sys::{Blob, File};

use super::settings::{Edits, SettingsSection};
use super::shadow::ShadowSection;
use super::{
    base::BaseSection, build::BuildSection, files::FilesSection, login::LoginSection, push::PushSection,
    save::SaveSection,
};
use crate::api::{AllPlatforms, BaseImage, Logins};
use crate::archive_base::ArchiveBase;
use crate::failure::{Failure, Section};
use crate::remote_layer::LayerOrigin;

/// One dropped file: where it came from (relative path) and where it goes.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub id: usize,
    pub rel: String,
    pub dest: Option<String>,
    pub size: u64,
    pub exec: bool,
}

impl Row {
    /// The destination: the user's edit, else the common prefix joined with the file's path.
    pub fn destination(&self, prefix: &str) -> String {
        self.dest.clone().unwrap_or_else(|| format!("{}/{}", prefix.trim_end_matches('/'), self.rel))
    }
}

/// What a build produced, and the new config and manifest computed from it.
#[derive(Clone, Debug)]
pub struct Built {
    pub appended: Appended,
    pub diff_id: String,
    pub created: String,
    pub history: String,
    pub millis: f64,
    pub tar_size: u64,
    pub wasm_memory: u64,
    /// Web Workers the build was spread over.
    pub workers: u32,
    /// Every platform of the base index, when the person asked for all of them.
    pub all: Option<AllPlatforms>,
}

/// Signals shared by the sections. `Copy`, so each closure takes what it needs.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    /// Credentials per registry, in page memory only.
    pub logins: RwSignal<Logins>,
    pub base_ref: RwSignal<Option<Reference>>,
    pub top: RwSignal<Option<Manifest>>,
    pub image: RwSignal<Option<BaseImage>>,
    pub rows: RwSignal<Vec<Row>>,
    pub files: StoredValue<Vec<File>, LocalStorage>,
    pub prefix: RwSignal<String>,
    pub deletes: RwSignal<Vec<String>>,
    pub edits: RwSignal<Edits>,
    /// A build's content bytes read, of the total, and its speed so far in MB/s.
    pub progress: RwSignal<Option<(u64, u64, f64)>>,
    /// Web Workers a layer build is spread over (deflate blocks shared between them).
    pub workers: RwSignal<u32>,
    pub built: RwSignal<Option<Built>>,
    /// Whether a build covers every platform of an index base (else only the one chosen).
    pub all_platforms: RwSignal<bool>,
    pub blob: StoredValue<Option<Blob>, LocalStorage>,
    /// The opened image tar, when the base came from one (its layers are read from it).
    pub archive: StoredValue<Option<ArchiveBase>, LocalStorage>,
    /// The last failure: shown in the banner and in its section.
    pub error: RwSignal<Option<Failure>>,
    /// Where the current build was pushed last (the save name's default then).
    pub pushed: RwSignal<Option<Reference>>,
}

impl Page {
    /// Where the base's layers are read from: the opened image tar, else the base's registry.
    pub fn layer_origin(&self) -> Option<LayerOrigin> {
        if let Some(archive) = self.archive.get_value() {
            return Some(LayerOrigin::Archive(archive));
        }
        self.base_ref
            .get_untracked()
            .map(|reference| LayerOrigin::Registry { reference, logins: self.logins.get_untracked() })
    }

    fn new() -> Page {
        Page {
            logins: RwSignal::new(Logins::default()),
            base_ref: RwSignal::new(None),
            top: RwSignal::new(None),
            image: RwSignal::new(None),
            rows: RwSignal::new(Vec::new()),
            files: StoredValue::new_local(Vec::new()),
            prefix: RwSignal::new("/app".to_owned()),
            deletes: RwSignal::new(Vec::new()),
            edits: RwSignal::new(Edits::default()),
            progress: RwSignal::new(None),
            workers: RwSignal::new(crate::layer_build::default_workers()),
            built: RwSignal::new(None),
            all_platforms: RwSignal::new(false),
            blob: StoredValue::new_local(None),
            archive: StoredValue::new_local(None),
            error: RwSignal::new(None),
            pushed: RwSignal::new(None),
        }
    }

    /// Anything changed after a build makes that build stale.
    pub fn invalidate_build(&self) {
        self.built.set(None);
        self.blob.set_value(None);
        self.progress.set(None);
        self.pushed.set(None);
    }

    /// Shows a failure of `section`'s action, there and in the banner.
    pub fn fail(&self, section: Section, message: impl Into<String>) {
        self.error.set(Some(Failure { section, message: message.into() }));
    }

    /// The base index, when "all platforms" is asked for and the base is one.
    pub fn all_platforms_of(&self) -> Option<layerize_core::manifest::Index> {
        if !self.all_platforms.get_untracked() || self.archive.with_value(Option::is_some) {
            return None;
        }
        match self.top.get_untracked() {
            Some(Manifest::Index(index)) => Some(index),
            _ => None,
        }
    }

    pub fn clear_error(&self) {
        self.error.set(None);
    }
}

/// The failure of `section`'s action, shown where the person pressed the button.
#[component]
pub fn SectionError(page: Page, section: Section) -> impl IntoView {
    let message = move || page.error.with(|e| e.as_ref().filter(|f| f.section == section).map(|f| f.message.clone()));
    view! {
        {move || message().map(|m| view! { <p id=section.error_id() class="error section-error" role="alert">{m}</p> })}
    }
}

#[component]
pub fn App() -> impl IntoView {
    let page = Page::new();
    view! {
        <header><h1>"layerize"</h1><p>"Drop files on a container image; get a new image. Everything is computed in this page."</p></header>
        <main>
            <Show when=move || page.error.get().is_some()>
                <div id="error" class="error" role="alert">
                    {move || page.error.get().map(|f| f.message).unwrap_or_default()}
                    <button class="dismiss" on:click=move |_| page.error.set(None)>"×"</button>
                </div>
            </Show>
            <LoginSection page=page />
            <BaseSection page=page />
            <FilesSection page=page />
            <ShadowSection page=page />
            <SettingsSection page=page />
            <BuildSection page=page />
            <PushSection page=page />
            <SaveSection page=page />
        </main>
    }
}
