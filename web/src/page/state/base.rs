//! The base image: what was asked for, what is loaded (the top manifest, the chosen image, the
//! image tar it came from), and whether "all platforms" is asked for. Every load takes a
//! [`Ticket`] for what it loads, and its answer is shown only while that ticket is the newest:
//! two loads issued back to back end showing the second, whichever answers last.
//! Every change counts in the base's revision.

use layerize_core::manifest::{Index, Manifest};
use layerize_core::{Digest, Platform, Reference};
use leptos::prelude::*;

use super::latest::{Latest, Ticket};
use super::versioned::Versioned;
use crate::page::api::{BaseImage, Logins};
use crate::page::archive_base::ArchiveBase;
use crate::page::layer_origin::LayerOrigin;
use crate::page::worker_job::WorkerJob;
use crate::protocol::OpenArchive;

/// What a load loads.
#[derive(Clone, Debug, PartialEq)]
pub enum BaseKey {
    /// A reference, resolved; for an index, the image for `platform` (else a default).
    Reference { reference: Reference, platform: Option<Platform> },
    /// One image of the index loaded already.
    Image { reference: Reference, digest: Digest },
    /// The image in a tar the person opened, by the file's name.
    Archive { name: String },
}

/// A load in flight: answers are shown with it only while it is the newest.
pub type Load = Ticket<BaseKey>;

#[derive(Clone, Copy, Debug)]
pub struct BaseState {
    loads: Latest<BaseKey>,
    /// The name the base goes by (for a tar, its own or one made from the file name).
    reference: Versioned<Option<Reference>>,
    /// The manifest the reference names: an index, or the image itself.
    top: Versioned<Option<Manifest>>,
    /// The image chosen (for an index, one of its images).
    image: Versioned<Option<BaseImage>>,
    /// The opened image tar, when the base came from one (its layers are read from it).
    archive: Versioned<Option<ArchiveBase>, LocalStorage>,
    /// Whether a build covers every platform of an index base (else only the one chosen).
    all_platforms: Versioned<bool>,
    /// Whether the newest load is waiting for its first answer.
    loading: RwSignal<bool>,
    /// The worker reading an image tar, stopped when a newer load starts.
    reading: StoredValue<Option<WorkerJob<OpenArchive>>, LocalStorage>,
    revision: RwSignal<u64>,
}

impl BaseState {
    pub fn new() -> BaseState {
        let revision = RwSignal::new(0);
        BaseState {
            loads: Latest::new(),
            reference: Versioned::new(None, revision),
            top: Versioned::new(None, revision),
            image: Versioned::new(None, revision),
            archive: Versioned::new_local(None, revision),
            all_platforms: Versioned::new(false, revision),
            loading: RwSignal::new(false),
            reading: StoredValue::new_local(None),
            revision,
        }
    }

    /// Counts every change of the base (tracked).
    pub fn revision(&self) -> u64 {
        self.revision.get()
    }

    pub fn reference(&self) -> ReadSignal<Option<Reference>> {
        self.reference.signal()
    }

    pub fn top(&self) -> ReadSignal<Option<Manifest>> {
        self.top.signal()
    }

    pub fn image(&self) -> ReadSignal<Option<BaseImage>> {
        self.image.signal()
    }

    pub fn archive(&self) -> ReadSignal<Option<ArchiveBase>, LocalStorage> {
        self.archive.signal()
    }

    pub fn all_platforms(&self) -> ReadSignal<bool> {
        self.all_platforms.signal()
    }

    pub fn loading(&self) -> ReadSignal<bool> {
        self.loading.read_only()
    }

    /// The loaded index (tracked), when the base is one.
    pub fn index(&self) -> Option<Index> {
        match self.top.signal().get() {
            Some(Manifest::Index(index)) => Some(index),
            _ => None,
        }
    }

    /// The base index, when "all platforms" is asked for and the base is one (not from a tar).
    pub fn all_platforms_of(&self) -> Option<Index> {
        if !self.all_platforms.signal().get_untracked() || self.archive.signal().with_untracked(Option::is_some) {
            return None;
        }
        match self.top.signal().get_untracked() {
            Some(Manifest::Index(index)) => Some(index),
            _ => None,
        }
    }

    /// Where the base's layers are read from: the opened image tar, else the base's registry.
    pub fn layer_origin(&self, logins: &Logins) -> Option<LayerOrigin> {
        if let Some(archive) = self.archive.signal().get_untracked() {
            return Some(LayerOrigin::Archive(archive));
        }
        self.reference
            .signal()
            .get_untracked()
            .map(|reference| LayerOrigin::Registry { reference, logins: logins.clone() })
    }

    pub fn set_all_platforms(&self, on: bool) {
        self.all_platforms.set(on);
    }

    /// Starts loading `reference` (for an index, the image for `platform`): what was shown
    /// goes, and only this load's answers are shown from now on.
    pub fn load_reference(&self, reference: Reference, platform: Option<Platform>) -> Load {
        let load = self.start(BaseKey::Reference { reference: reference.clone(), platform });
        self.reference.set(Some(reference));
        load
    }

    /// Starts loading image `digest` of the index shown; `None` when no base is loaded.
    pub fn load_image(&self, digest: Digest) -> Option<Load> {
        let reference = self.reference.signal().get_untracked()?;
        let load = self.loads.issue(BaseKey::Image { reference, digest });
        self.reading.set_value(None);
        self.image.set(None);
        Some(load)
    }

    /// Starts opening the image tar `name`: what was shown goes.
    pub fn load_archive(&self, name: String) -> Load {
        self.start(BaseKey::Archive { name })
    }

    /// `job` reads the tar of `load`: it is kept until the answer, or stopped when a newer
    /// load starts.
    pub fn reading(&self, load: &Load, job: WorkerJob<OpenArchive>) {
        if self.is_current(load) {
            self.reading.set_value(Some(job));
        }
    }

    /// A load that forgets the base shown.
    fn start(&self, key: BaseKey) -> Load {
        let load = self.loads.issue(key);
        // A tar still being read is not wanted any more.
        self.reading.set_value(None);
        self.reference.set(None);
        self.top.set(None);
        self.image.set(None);
        self.archive.set(None);
        self.loading.set(true);
        load
    }

    /// Whether `load` is still the newest (its answers are shown).
    pub fn is_current(&self, load: &Load) -> bool {
        self.loads.is_newest(load)
    }

    /// The reference of `load` resolved to `top`; false (and nothing shown) when a newer load
    /// started meanwhile.
    pub fn resolved(&self, load: &Load, top: Manifest) -> bool {
        if !self.is_current(load) {
            return false;
        }
        self.loading.set(false);
        self.top.set(Some(top));
        true
    }

    /// Shows `image` as the base, if `load` is still the newest.
    pub fn loaded(&self, load: &Load, image: BaseImage) {
        if self.is_current(load) {
            self.image.set(Some(image));
        }
    }

    /// Shows the image of an opened tar as the base, named `name`, if `load` is still the
    /// newest.
    pub fn opened(&self, load: &Load, archive: ArchiveBase, name: Reference, image: BaseImage) {
        if !self.is_current(load) {
            return;
        }
        self.reading.set_value(None);
        self.loading.set(false);
        self.archive.set(Some(archive));
        self.reference.set(Some(name));
        self.top.set(Some(Manifest::Image(image.manifest.clone())));
        self.image.set(Some(image));
    }

    /// `load` failed: true when it is still the newest, so that its failure is worth showing.
    pub fn failed(&self, load: &Load) -> bool {
        if !self.is_current(load) {
            return false;
        }
        self.reading.set_value(None);
        self.loading.set(false);
        true
    }
}

impl Default for BaseState {
    fn default() -> Self {
        BaseState::new()
    }
}
