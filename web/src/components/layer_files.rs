//! The files of one layer, as stored: the layer worker fetches the blob in Range requests
//! through the proxy and reads it through the core's layer reader as it arrives, posting
//! members in batches that show at once; at the end it holds the blob to its digest.
//!
//! The list is virtualised: a fixed-height scroll box holds a spacer as tall as all rows, and
//! only the rows in view (plus a margin) are in the DOM, so a layer with 100 000 members costs
//! memory for the entries but not DOM nodes.

use layerize_core::descriptor::Descriptor;
use layerize_core::Reference;
use leptos::prelude::*;
use leptos::task::spawn_local;
use web_sys::Worker;

use super::inspect::human;
use crate::api::{self, Login};
use crate::worker::{self, FromWorker, ListedEntry};

/// Height of one row in pixels (the CSS gives `.layer-file` this height).
const ROW_PX: i32 = 22;
/// Rows the scroll box shows at once.
const VIEW_ROWS: usize = 20;
/// Rows rendered above and below the visible ones, so fast scrolling shows no gaps.
const OVERSCAN: usize = 10;

#[derive(Clone, Debug, PartialEq)]
enum State {
    Downloading(u64),
    Done { compression: String },
    Failed(String),
}

#[component]
pub fn LayerFiles(reference: Reference, login: Login, number: usize, layer: Descriptor) -> impl IntoView {
    let entries = RwSignal::new(Vec::<ListedEntry>::new());
    let state = RwSignal::new(State::Downloading(0));
    let scroll_top = RwSignal::new(0i32);
    let job: StoredValue<Option<Worker>, LocalStorage> = StoredValue::new_local(None);
    on_cleanup(move || {
        if let Some(w) = job.try_get_value().flatten() {
            w.terminate();
        }
    });
    let digest = layer.digest.clone();
    let total = layer.size;
    spawn_local(async move {
        let (url, authorization) = match api::blob_access(&reference, &login, &digest).await {
            Ok(access) => access,
            Err(e) => {
                state.try_set(State::Failed(format!("downloading layer {number}: {e}")));
                return;
            }
        };
        if state.try_set(State::Downloading(0)).is_some() {
            return; // the listing was closed meanwhile
        }
        let started = worker::start_remote_listing(digest.to_string(), url, authorization, total, move |msg, _| match msg {
            FromWorker::Progress { done, .. } => {
                state.try_set(State::Downloading(done));
            }
            FromWorker::Entries { entries: batch } => {
                entries.try_update(|e| e.extend(batch));
            }
            FromWorker::Listed { compression, .. } => {
                state.try_set(State::Done { compression });
            }
            FromWorker::Failed { message } => {
                state.try_set(State::Failed(format!("reading layer {number}: {message}")));
            }
            _ => {}
        });
        match started {
            Ok(w) => {
                job.try_set_value(Some(w));
            }
            Err(e) => {
                state.try_set(State::Failed(format!("cannot start the layer worker: {e:?}")));
            }
        }
    });

    let status = move || match state.get() {
        State::Downloading(done) => format!("reading while downloading: {} of {}…", human(done), human(total)),
        State::Done { compression } => format!("complete ({compression})"),
        State::Failed(e) => e,
    };
    let rows = move || {
        let first = (scroll_top.get().max(0) / ROW_PX) as usize;
        let first = first.saturating_sub(OVERSCAN);
        entries.with(|all| {
            all.iter()
                .enumerate()
                .skip(first)
                .take(VIEW_ROWS + 2 * OVERSCAN)
                .map(|(i, e)| {
                    let owner = format!("{}:{}", e.uid, e.gid);
                    let top = format!("top: {}px", i as i32 * ROW_PX);
                    view! {
                        <div class="layer-file layer-files-row" style=top>
                            <span class="path" title=e.path.clone()><code>{e.path.clone()}</code></span>
                            <span class="kind">{e.kind.clone()}</span>
                            <span class="num size">{(e.kind == "file").then(|| e.size.to_string())}</span>
                            <span class="mode"><code>{format!("{:04o}", e.mode)}</code></span>
                            <span class="owner">{owner}</span>
                            <span class="target">{e.target.clone().map(|t| view! { <code>{t}</code> })}</span>
                        </div>
                    }
                })
                .collect_view()
        })
    };
    let height = move || format!("height: {}px", entries.with(|e| e.len()) as i32 * ROW_PX);
    let on_scroll = move |ev: web_sys::Event| {
        let el: web_sys::Element = event_target(&ev);
        scroll_top.set(el.scroll_top());
    };
    view! {
        <div id="layer-files-panel">
            <h3>"Files of layer " {number} " " <code>{layer.digest.to_string()}</code></h3>
            <p><span id="layer-files-count" data-done=move || matches!(state.get(), State::Done { .. }).to_string()>{move || entries.with(|e| e.len())}</span>
               " entries · " <span id="layer-files-status" class:error=move || matches!(state.get(), State::Failed(_))>{status}</span></p>
            <div class="layer-files-row layer-files-header">
                <span>"Path"</span><span>"Type"</span><span class="num">"Size"</span><span>"Mode"</span><span>"Owner"</span><span>"Target"</span>
            </div>
            <div id="layer-files" style=format!("max-height: {}px", VIEW_ROWS as i32 * ROW_PX) on:scroll=on_scroll>
                <div class="spacer" style=height>{rows}</div>
            </div>
        </div>
    }
}
