//! Saving one regular file of a layer: the layer worker extracts it as the layer streams in
//! and checks the layer's digest (see `file_extract`), then the page hands the Blob to the
//! browser's downloads under the file's name.

use std::cell::RefCell;
use std::rc::Rc;

use layerize_core::descriptor::Descriptor;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::inspect::human;
use crate::page::download;
use crate::page::layer_origin::{self, LayerOrigin};
use crate::page::worker_job::{Event, WorkerJob};
use crate::protocol::extract::Extracted;
use crate::protocol::{Extract, Progress};

/// Where one file download stands.
#[derive(Clone, Debug, PartialEq)]
pub enum FileFetch {
    /// Reading its layer: `done` of `total` bytes fetched.
    Reading {
        path: String,
        done: u64,
        total: u64,
    },
    Saved {
        path: String,
        size: u64,
    },
    Failed(String),
}

/// Extracts `path` from `layer` and saves it, following it in `state`.
pub fn save_file(origin: LayerOrigin, layer: Descriptor, path: String, state: RwSignal<Option<FileFetch>>) {
    state.set(Some(FileFetch::Reading { path: path.clone(), done: 0, total: layer.size }));
    spawn_local(async move {
        let remote = match layer_origin::locate(&origin, &layer).await {
            Ok(r) => r,
            Err(e) => {
                state.try_set(Some(FileFetch::Failed(format!("downloading {path}: {e}"))));
                return;
            }
        };
        let name = path.rsplit('/').next().unwrap_or("file").to_owned();
        let wanted = path.clone();
        // The job lives here until its last event, or until the list that asked is gone.
        let handle: Rc<RefCell<Option<WorkerJob<Extract>>>> = Rc::default();
        let held = handle.clone();
        let started = WorkerJob::start(Extract { layer: remote, path: path.clone() }, move |event| {
            // The list that asked is gone (closed, or another layer shown): stop reading, and
            // save nothing.
            if state.try_get_untracked().is_none() {
                drop(held.borrow_mut().take());
                return;
            }
            // The job's last event: let go of it (its worker has ended).
            if !matches!(event, Event::Update(_)) {
                drop(held.borrow_mut().take());
            }
            let next = match event {
                Event::Update(Progress { done, total }) => FileFetch::Reading { path: wanted.clone(), done, total },
                Event::Done(Extracted { path, size, blob }) => {
                    let saved = binary(&blob).and_then(|blob| download::save_blob(&blob, &name));
                    match saved {
                        Ok(()) => FileFetch::Saved { path, size },
                        Err(e) => FileFetch::Failed(format!("saving {path}: {}", crate::js_error::js_text(&e))),
                    }
                }
                Event::Failed(e) => FileFetch::Failed(format!("downloading {wanted}: {e}")),
            };
            state.try_set(Some(next));
        });
        match started {
            Ok(w) => *handle.borrow_mut() = Some(w),
            Err(e) => {
                state.try_set(Some(FileFetch::Failed(e.to_string())));
            }
        }
    });
}

/// `blob` typed as bytes of no particular kind: untyped, Chromium guesses one from the content
/// and may add an extension to the saved name (`busybox.txt`).
fn binary(blob: &web_sys::Blob) -> Result<web_sys::Blob, wasm_bindgen::JsValue> {
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/octet-stream");
    web_sys::Blob::new_with_blob_sequence_and_options(&js_sys::Array::of1(blob), &options)
}

/// One line saying how the last file download went.
#[component]
pub fn FileDownloadStatus(state: RwSignal<Option<FileFetch>>) -> impl IntoView {
    let text = move || match state.get()? {
        FileFetch::Reading { path, done, total } => {
            Some(format!("extracting {path}: {} of {} of its layer read…", human(done), human(total)))
        }
        FileFetch::Saved { path, size } => Some(format!("saved {path} ({})", human(size))),
        FileFetch::Failed(e) => Some(e),
    };
    view! {
        <p class="file-download-status" data-done=move || matches!(state.get(), Some(FileFetch::Saved { .. })).to_string()
            class:error=move || matches!(state.get(), Some(FileFetch::Failed(_)))>{text}</p>
    }
}
