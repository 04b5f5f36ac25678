//! The merged filesystem of the chosen image, as `layerize ls --merged` lists it: on demand,
//! the layer worker fetches every layer in order and applies it with the core's flattener
//! (whiteouts, opaque directories, hardlinks as a runtime unpacks them). Shown in a
//! [`FileList`] with the layer each path comes from; a regular file can be downloaded.

use layerize_core::descriptor::Descriptor;
use layerize_core::flatten::MergedEntry;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::file_download::{save_file, FileDownloadStatus, FileFetch};
use super::file_list::FileList;
use super::inspect::human;
use crate::page::layer_origin::{self, LayerOrigin};
use crate::page::worker_job::{Event, WorkerJob};
use crate::protocol::merge::MergeUpdate;
use crate::protocol::Progress;

/// Where a merge stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Merge {
    Idle,
    /// Reading layer `layer` (from 1) of `layers`: `done` of `total` bytes fetched.
    Reading {
        layer: usize,
        layers: usize,
        done: u64,
        total: u64,
    },
    Done,
    Failed(String),
}

impl Merge {
    /// The state in words.
    pub fn describe(&self) -> String {
        match self {
            Merge::Idle => String::new(),
            Merge::Reading { layer, layers, done, total } => {
                format!("reading layer {layer} of {layers}: {} of {}…", human(*done), human(*total))
            }
            Merge::Done => "complete".to_owned(),
            Merge::Failed(e) => e.clone(),
        }
    }
}

/// Merges `layers` in a fresh worker, filling `entries` (cleared first) and following it in
/// `state`; the worker goes into `job` so that closing the view stops it.
pub fn start_merge(
    origin: LayerOrigin,
    layers: Vec<Descriptor>,
    entries: RwSignal<Vec<MergedEntry>>,
    state: RwSignal<Merge>,
    job: StoredValue<Option<WorkerJob<crate::protocol::Merge>>, LocalStorage>,
) {
    entries.set(Vec::new());
    state.set(Merge::Reading { layer: 1, layers: layers.len(), done: 0, total: layers.first().map_or(0, |l| l.size) });
    spawn_local(async move {
        let mut remote = Vec::with_capacity(layers.len());
        for (i, layer) in layers.iter().enumerate() {
            match layer_origin::locate(&origin, layer).await {
                Ok(r) => remote.push(r),
                Err(e) => {
                    state.try_set(Merge::Failed(format!("layer {} of {}: {e}", i + 1, layers.len())));
                    return;
                }
            }
        }
        let sizes: Vec<u64> = layers.iter().map(|l| l.size).collect();
        let mut at = (1, sizes.len());
        let started = WorkerJob::start(crate::protocol::Merge { layers: remote }, move |event| {
            let next = match event {
                Event::Update(MergeUpdate::Reading { layer, layers }) => {
                    at = (layer, layers);
                    Merge::Reading {
                        layer,
                        layers,
                        done: 0,
                        total: layer.checked_sub(1).and_then(|i| sizes.get(i)).copied().unwrap_or(0),
                    }
                }
                Event::Update(MergeUpdate::Fetched(Progress { done, total })) => {
                    Merge::Reading { layer: at.0, layers: at.1, done, total }
                }
                Event::Update(MergeUpdate::Entries(batch)) => {
                    entries.try_update(|e| e.extend(batch));
                    return;
                }
                Event::Done(_) => Merge::Done,
                Event::Failed(e) => Merge::Failed(e.to_string()),
            };
            state.try_set(next);
        });
        match started {
            // Replacing an earlier merge's job stops it.
            Ok(w) => {
                job.try_set_value(Some(w));
            }
            Err(e) => {
                state.try_set(Merge::Failed(e.to_string()));
            }
        }
    });
}

/// A "Merged filesystem" button and, once pressed, the merged listing.
#[component]
pub fn MergedFiles(origin: LayerOrigin, layers: Vec<Descriptor>) -> impl IntoView {
    let entries = RwSignal::new(Vec::<MergedEntry>::new());
    let state = RwSignal::new(Merge::Idle);
    let job: StoredValue<Option<WorkerJob<crate::protocol::Merge>>, LocalStorage> = StoredValue::new_local(None);
    // Closing the view drops the job, which stops its worker.
    on_cleanup(move || {
        job.try_update_value(|j| *j = None);
    });
    let fetch = RwSignal::new(None::<FileFetch>);
    let (o, d) = (origin.clone(), layers.clone());
    let download = Callback::new(move |entry: MergedEntry| {
        if let Some(layer) = d.get(entry.layer.wrapping_sub(1)) {
            save_file(o.clone(), layer.clone(), entry.path, fetch);
        }
    });
    let start = move |_| start_merge(origin.clone(), layers.clone(), entries, state, job);
    let busy = move || matches!(state.get(), Merge::Reading { .. });
    view! {
        <div id="merged-files-panel">
            <h3>"Merged filesystem"</h3>
            <p><button id="merged-load" disabled=busy on:click=start>"Merged filesystem"</button>
               " every layer applied in order, as a runtime unpacks them"</p>
            <Show when=move || state.get() != Merge::Idle>
                <p><span id="merged-files-count" data-done=move || (state.get() == Merge::Done).to_string()>{move || entries.with(|e| e.len())}</span>
                   " entries · " <span id="merged-files-status" class:error=move || matches!(state.get(), Merge::Failed(_))>{move || state.get().describe()}</span></p>
                <FileList id="merged-files" row_class="merged-file" entries=entries on_download=download />
                <FileDownloadStatus state=fetch />
            </Show>
        </div>
    }
}
