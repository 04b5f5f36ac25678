//! The build: the layer built last, with what the append made of the base, shown only while
//! the base and the draft are at the revisions it was started from. Any change to either
//! makes a finished build stale by construction; a build whose answer comes after a newer one
//! started is dropped, as a base load is.

use layerize_core::mutate::Appended;
use layerize_core::Reference;
use leptos::prelude::*;
use web_sys::Blob;

use super::base::BaseState;
use super::draft::DraftState;
use super::latest::{Latest, Ticket};
use crate::page::api::AllPlatforms;

/// The revisions of the base and the draft a build read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revision {
    base: u64,
    draft: u64,
}

/// One build, from its start.
pub type BuildRun = Ticket<Revision>;

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

/// A build while it runs: content bytes read, of the total, and the speed so far in MB/s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub mbps: f64,
}

/// A finished build: the result, the layer's bytes, and where it was pushed last.
#[derive(Clone, Debug)]
pub struct Finished {
    pub run: BuildRun,
    pub built: Built,
    pub blob: Blob,
    pub pushed: Option<Reference>,
}

/// The newest build: how far it got, and once finished, its result.
#[derive(Clone, Debug)]
struct Last {
    run: BuildRun,
    progress: Progress,
    finished: Option<Finished>,
}

#[derive(Clone, Copy, Debug)]
pub struct BuildState {
    runs: Latest<Revision>,
    /// The newest build, running or finished (none after it failed).
    last: RwSignal<Option<Last>, LocalStorage>,
    /// Web Workers a layer build is spread over (deflate blocks shared between them).
    pub workers: RwSignal<u32>,
    base: BaseState,
    draft: DraftState,
}

impl BuildState {
    pub fn new(base: BaseState, draft: DraftState) -> BuildState {
        BuildState {
            runs: Latest::new(),
            last: RwSignal::new_local(None),
            workers: RwSignal::new(crate::page::layer_build::default_workers()),
            base,
            draft,
        }
    }

    /// Where the base and the draft are now (tracked).
    fn revision(&self) -> Revision {
        Revision { base: self.base.revision(), draft: self.draft.revision() }
    }

    /// Starts a build of the base and draft as they are now; `total` content bytes to read.
    pub fn start(&self, total: u64) -> BuildRun {
        let run = self.runs.issue(untrack(|| self.revision()));
        let progress = Progress { done: 0, total, mbps: 0.0 };
        self.last.set(Some(Last { run: run.clone(), progress, finished: None }));
        run
    }

    pub fn progress(&self, run: &BuildRun, progress: Progress) {
        self.update_newest(run, |last| last.progress = progress);
    }

    pub fn finish(&self, run: &BuildRun, built: Built, blob: Blob) {
        self.update_newest(run, |last| last.finished = Some(Finished { run: run.clone(), built, blob, pushed: None }));
    }

    /// `run` failed: true when it is still the newest, so that its failure is worth showing.
    pub fn failed(&self, run: &BuildRun) -> bool {
        let newest = self.runs.is_newest(run);
        if newest {
            self.last.set(None);
        }
        newest
    }

    /// Records that the build `run` was pushed to `target` (the save name's default then).
    pub fn pushed(&self, run: &BuildRun, target: Reference) {
        self.update_newest(run, |last| {
            if let Some(finished) = &mut last.finished {
                finished.pushed = Some(target);
            }
        });
    }

    fn update_newest(&self, run: &BuildRun, change: impl FnOnce(&mut Last)) {
        if self.runs.is_newest(run) {
            self.last.update(|last| {
                if let Some(last) = last.as_mut().filter(|last| &last.run == run) {
                    change(last);
                }
            });
        }
    }

    /// The newest build, if it finished and the base and draft are still as it read them
    /// (tracked).
    pub fn current(&self) -> Option<Finished> {
        let now = self.revision();
        self.last.with(|last| last.as_ref().filter(|last| last.run.key == now).and_then(|last| last.finished.clone()))
    }

    /// How far the newest build got (running or finished), while the base and draft are as
    /// it read them (tracked).
    pub fn progress_shown(&self) -> Option<Progress> {
        let now = self.revision();
        self.last.with(|last| last.as_ref().filter(|last| last.run.key == now).map(|last| last.progress))
    }
}
