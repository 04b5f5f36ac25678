//! The page ⇄ worker protocol, and the page's handle on a worker.
//!
//! Messages are a serde enum (through serde-wasm-bindgen) in the `msg` field of a JS object;
//! the dropped `File`s travel beside it in `files` (structured-cloned handles, not bytes) and
//! the built blob comes back in `blob`.

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, Worker};

/// One entry of the layer as the page describes it; files point into the `files` array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WireKind {
    File { mode: u32, size: u64, index: u32 },
    Whiteout,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireEntry {
    pub path: String,
    pub kind: WireKind,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToWorker {
    Build { entries: Vec<WireEntry>, mtime: u64 },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FromWorker {
    Ready,
    Progress { done: u64, total: u64 },
    /// The layer is built; the blob is in the message's `blob` field.
    Built { diff_id: String, digest: String, size: u64, tar_size: u64, millis: f64, wasm_memory: u64 },
    Failed { message: String },
}

/// Wraps a message (and transferable side data) into the JS object that travels.
pub fn envelope<T: Serialize>(msg: &T, extra: &[(&str, &JsValue)]) -> Result<js_sys::Object, JsValue> {
    let obj = js_sys::Object::new();
    let value = serde_wasm_bindgen::to_value(msg).map_err(|e| JsValue::from_str(&e.to_string()))?;
    js_sys::Reflect::set(&obj, &"msg".into(), &value)?;
    for (k, v) in extra {
        js_sys::Reflect::set(&obj, &(*k).into(), v)?;
    }
    Ok(obj)
}

/// Reads the `msg` field of an envelope.
pub fn open<T: for<'de> Deserialize<'de>>(data: &JsValue) -> Result<T, String> {
    let msg = js_sys::Reflect::get(data, &"msg".into()).map_err(|e| format!("{e:?}"))?;
    serde_wasm_bindgen::from_value(msg).map_err(|e| e.to_string())
}

/// A field of an envelope other than `msg`.
pub fn field(data: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(data, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// Starts a layer build in a fresh worker. `on_message` gets every message with its raw
/// envelope; the worker is terminated after `Built` or `Failed`.
pub fn start_build(
    entries: Vec<WireEntry>,
    files: js_sys::Array,
    mtime: u64,
    mut on_message: impl FnMut(FromWorker, JsValue) + 'static,
) -> Result<(), JsValue> {
    let worker = Worker::new("./worker_loader.js")?;
    let w = worker.clone();
    let mut request = Some((entries, files));
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let data = e.data();
        let msg = match open::<FromWorker>(&data) {
            Ok(m) => m,
            Err(message) => FromWorker::Failed { message },
        };
        match &msg {
            // The worker says Ready once its wasm is running: a message sent earlier is lost.
            FromWorker::Ready => {
                if let Some((entries, files)) = request.take() {
                    let env = envelope(&ToWorker::Build { entries, mtime }, &[("files", &files)]);
                    if let Err(e) = env.and_then(|env| w.post_message(&env)) {
                        on_message(FromWorker::Failed { message: format!("cannot start the build: {e:?}") }, JsValue::NULL);
                    }
                }
                return;
            }
            FromWorker::Built { .. } | FromWorker::Failed { .. } => {
                w.set_onmessage(None);
                w.terminate();
            }
            FromWorker::Progress { .. } => {}
        }
        on_message(msg, data);
    });
    worker.set_onmessage(Some(handler.as_ref().unchecked_ref()));
    // The closure must outlive this call; it is dropped with the worker's last message
    // (set_onmessage(None)) only by the GC, so it is leaked once per build, not per message.
    handler.forget();
    Ok(())
}
