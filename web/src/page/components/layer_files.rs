//! The files of one layer, as stored: the layer worker fetches the blob in Range requests
//! through the proxy and reads it through the core's layer reader as it arrives, posting
//! members in batches that show at once; at the end it holds the blob to its digest.
//! The list is a [`FileList`]; a regular file can be downloaded.

use layerize_core::descriptor::Descriptor;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::file_download::{save_file, FileDownloadStatus, FileFetch};
use super::file_list::FileList;
use super::inspect::human;
use crate::page::layer_origin::{self, LayerOrigin};
use crate::page::worker_job::{Event, WorkerJob};
use crate::protocol::list::ListUpdate;
use crate::protocol::List;
use layerize_core::layer::read::StoredEntry;
use layerize_core::media_type::Compression;

#[derive(Clone, Debug, PartialEq)]
enum State {
    Downloading(u64),
    Done { compression: Compression },
    Failed(String),
}

#[component]
pub fn LayerFiles(origin: LayerOrigin, number: usize, layer: Descriptor, on_close: Callback<()>) -> impl IntoView {
    let entries = RwSignal::new(Vec::<StoredEntry>::new());
    let state = RwSignal::new(State::Downloading(0));
    let job: StoredValue<Option<WorkerJob<List>>, LocalStorage> = StoredValue::new_local(None);
    // Closing the view drops the job, which stops its worker.
    on_cleanup(move || {
        job.try_update_value(|j| *j = None);
    });
    let total = layer.size;
    let fetch = RwSignal::new(None::<FileFetch>);
    let (o, d) = (origin.clone(), layer.clone());
    let download = Callback::new(move |entry: StoredEntry| save_file(o.clone(), d.clone(), entry.path, fetch));
    let located = layer.clone();
    spawn_local(async move {
        let remote = match layer_origin::locate(&origin, &located).await {
            Ok(remote) => remote,
            Err(e) => {
                state.try_set(State::Failed(format!("downloading layer {number}: {e}")));
                return;
            }
        };
        if state.try_set(State::Downloading(0)).is_some() {
            return; // the listing was closed meanwhile
        }
        let started = WorkerJob::start(List { layer: remote }, move |event| match event {
            Event::Update(ListUpdate::Fetched(progress)) => {
                state.try_set(State::Downloading(progress.done));
            }
            Event::Update(ListUpdate::Entries(batch)) => {
                entries.try_update(|e| e.extend(batch));
            }
            Event::Done(listed) => {
                state.try_set(State::Done { compression: listed.compression });
            }
            Event::Failed(e) => {
                state.try_set(State::Failed(format!("reading layer {number}: {e}")));
            }
        });
        match started {
            Ok(w) => {
                job.try_set_value(Some(w));
            }
            Err(e) => {
                state.try_set(State::Failed(e.to_string()));
            }
        }
    });

    let status = move || match state.get() {
        State::Downloading(done) => format!("reading while downloading: {} of {}…", human(done), human(total)),
        State::Done { compression } => format!("complete ({compression})"),
        State::Failed(e) => e,
    };
    view! {
        <div id="layer-files-panel">
            <h3>"Files of layer " {number} " " <code>{layer.digest.to_string()}</code>
                <button type="button" id="layer-files-close" title="Close this listing" on:click=move |_| on_close.run(())>"close"</button></h3>
            <p><span id="layer-files-count" data-done=move || matches!(state.get(), State::Done { .. }).to_string()>{move || entries.with(|e| e.len())}</span>
               " entries · " <span id="layer-files-status" class:error=move || matches!(state.get(), State::Failed(_))>{status}</span></p>
            <FileList id="layer-files" row_class="layer-file" entries=entries on_download=download />
            <FileDownloadStatus state=fetch />
        </div>
    }
}
