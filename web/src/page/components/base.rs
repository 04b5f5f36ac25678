//! Step 1: the base image: a reference (or an image tar, see `base_archive`), a platform when
//! it is an index, and what it holds.
//! The address (`?image=…&platform=…`) follows what is shown, so a view can be shared.

use layerize_core::manifest::{ImageManifest, Manifest};
use layerize_core::{Digest, Platform, Reference};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::app::SectionError;
use super::base_archive::ArchiveOpen;
use super::inspect::{ImageInspection, IndexEntries};
use crate::page::api::Logins;
use crate::page::failure::{self, Section};
use crate::page::state::{BaseState, Failures};
use crate::page::{api, location};

/// What loading a base needs, taken from context once (the loads' tasks run outside the
/// component, where context cannot be looked up).
#[derive(Clone, Copy, Debug)]
struct Loader {
    base: BaseState,
    logins: RwSignal<Logins>,
    failures: Failures,
}

impl Loader {
    fn new() -> Loader {
        Loader { base: expect_context(), logins: expect_context(), failures: expect_context() }
    }

    /// Loads the image at `digest` of the base's reference (`manifest` when the reference
    /// named it itself); `platform` is what the address records for it (only for an image of
    /// an index).
    fn choose(self, manifest: Option<ImageManifest>, digest: Digest, platform: Option<String>) {
        let Loader { base, logins, failures } = self;
        let Some(reference) = base.reference().get_untracked() else { return };
        let Some(load) = base.load_image(digest.clone()) else { return };
        location::replace(&reference.to_string(), platform.as_deref());
        let logins = logins.get_untracked();
        spawn_local(async move {
            match api::image(&reference, &logins, manifest, &digest).await {
                Ok(image) => base.loaded(&load, image),
                Err(e) if base.failed(&load) => {
                    failures.fail(Section::Base, failure::while_doing(&format!("loading {reference}"), &e.to_string()));
                }
                Err(_) => {}
            }
        });
    }

    /// Chooses the image `digest` of the loaded index.
    fn choose_in_index(self, digest: Digest) {
        let platform = self.base.top().with_untracked(|top| match top {
            Some(Manifest::Index(index)) => index
                .manifests
                .iter()
                .find(|d| d.digest == digest)
                .and_then(|d| d.platform.as_ref().map(ToString::to_string)),
            _ => None,
        });
        self.choose(None, digest, platform);
    }

    /// Resolves `text` and shows it; for an index, the image for `wanted` (else linux/amd64,
    /// else the first image). A load started later wins, whichever answers first.
    fn load(self, text: &str, wanted: Option<Platform>) {
        let Loader { base, logins, failures } = self;
        let reference: Reference = match text.trim().parse() {
            Ok(r) => r,
            Err(e) => return failures.fail(Section::Base, e.to_string()),
        };
        failures.clear();
        let load = base.load_reference(reference.clone(), wanted.clone());
        let logins = logins.get_untracked();
        spawn_local(async move {
            match api::resolve(&reference, &logins).await {
                Ok(Manifest::Image(m)) => {
                    let digest = m.digest().clone();
                    if base.resolved(&load, Manifest::Image(m.clone())) {
                        self.choose(Some(m), digest, None);
                    }
                }
                Ok(Manifest::Index(index)) => {
                    let wanted = wanted.unwrap_or_else(|| Platform::new("linux", "amd64", None));
                    let first = wanted
                        .select(&index.manifests)
                        .ok()
                        .or_else(|| index.manifests.iter().find(|d| !d.is_attestation()))
                        .map(|d| (d.digest.clone(), d.platform.as_ref().map(ToString::to_string)));
                    if base.resolved(&load, Manifest::Index(index)) {
                        if let Some((digest, platform)) = first {
                            self.choose(None, digest, platform);
                        }
                    }
                }
                Err(e) if base.failed(&load) => {
                    failures.fail(Section::Base, failure::while_doing(&format!("loading {reference}"), &e.to_string()));
                }
                // A newer load started: this one's failure no longer matters.
                Err(_) => {}
            }
        });
    }
}

#[component]
pub fn BaseSection() -> impl IntoView {
    let loader = Loader::new();
    let Loader { base, logins, failures } = loader;
    let input = RwSignal::new(String::new());
    // A shared address opens its view at once.
    let shared = location::read();
    if let Some(image) = shared.image {
        input.set(image.clone());
        let wanted = match shared.platform.as_deref().map(str::parse::<Platform>) {
            Some(Err(e)) => {
                failures.fail(Section::Base, format!("platform in the address: {e}"));
                None
            }
            Some(Ok(p)) => Some(p),
            None => None,
        };
        loader.load(&image, wanted);
    }

    let selected = Signal::derive(move || base.image().with(|i| i.as_ref().map(|i| i.manifest.digest().clone())));
    let all_platforms = base.all_platforms();
    view! {
        <section id="base">
            <h2>"1. Base image"</h2>
            <form class="row" on:submit=move |ev| { ev.prevent_default(); loader.load(&input.get_untracked(), None); }>
                <input id="base-ref" type="text" placeholder="alpine:3.20, 127.0.0.1:5000/base:1 or …@sha256:…"
                    prop:value=move || input.get() on:input=move |ev| input.set(event_target_value(&ev)) />
                // Never disabled: a load started later replaces one still waiting for its answer.
                <button id="base-load" type="submit">"Load"</button>
            </form>
            <ArchiveOpen />
            <SectionError section=Section::Base />
            <Show when=move || base.loading().get()><p class="hint">"Loading…"</p></Show>
            {move || base.index().map(|index| {
                let selected_str = move || selected.get().map(|d| d.to_string()).unwrap_or_default();
                let options = index.manifests.iter().filter(|d| !d.is_attestation()).map(|d| {
                    let label = d.platform.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "unknown platform".into());
                    let value = d.digest.to_string();
                    let v2 = value.clone();
                    view! { <option value=value selected=move || selected_str() == v2>{label}</option> }
                }).collect_view();
                view! {
                    <p>"Index " <code id="index-digest">{index.digest().to_string()}</code> " (" {index.media_type().to_string()} ")"</p>
                    <label>"Platform "
                        <select id="platform" on:change=move |ev| {
                            if let Ok(d) = event_target_value(&ev).parse::<Digest>() {
                                loader.choose_in_index(d);
                            }
                        }>{options}</select>
                    </label>
                    <label class="hint"><input id="all-platforms" type="checkbox" prop:checked=move || all_platforms.get()
                        on:change=move |ev| base.set_all_platforms(event_target_checked(&ev)) />
                        " all platforms of this index: the layer is built once, added to every image, and a new index is pushed"</label>
                    <IndexEntries index=index selected=selected on_select=Callback::new(move |d| loader.choose_in_index(d)) />
                }
            })}
            {move || base.image().get().zip(base.layer_origin(&logins.get_untracked())).map(|(image, origin)| {
                view! { <ImageInspection image=image origin=origin /> }
            })}
        </section>
    }
}
