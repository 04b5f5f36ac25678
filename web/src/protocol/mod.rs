//! The page ⇄ worker protocol, and the page's handle on a job in a worker ([`WorkerJob`]).
//!
//! Messages are a serde enum (through serde-wasm-bindgen) in the `msg` field of a JS object;
//! the dropped `File`s travel beside it in `files` (structured-cloned handles, not bytes), and
//! the built blob comes back in `blob`.

use std::cell::RefCell;
use std::rc::Rc;

use layerize_core::flatten::MergedEntry;
use layerize_core::layer::read::StoredEntry;
use layerize_core::Digest;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, Worker};

pub use crate::worker::remote_layer::RemoteLayer;

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
    /// Build the layer from the message's `files`, in pinned gzip profile `gzip_profile`
    /// (1 or 2). With `shards > 1`, deflate only this worker's share of the blocks (`shard`
    /// of `shards`) and answer `ShardBuilt`.
    Build {
        entries: Vec<WireEntry>,
        mtime: u64,
        gzip_profile: u8,
        shard: u32,
        shards: u32,
    },
    /// Start hashing a blob that arrives in parts (`HashPart`, each a Blob in the `blob`
    /// field, in order), ended by `HashEnd`; `what` names it in errors. Answered by
    /// `HashReady`, and `Hashed` at the end.
    Hash {
        what: String,
    },
    HashPart,
    HashEnd,
    /// List the members of a layer the worker fetches, as they arrive, so they show while it
    /// downloads; the layer is held to its digest and size at the end.
    List {
        layer: RemoteLayer,
    },
    /// Read the image tar (`docker save`, OCI archive) in the message's `blob` field: the one
    /// image it holds, to take as the base. `what` names the file in errors.
    OpenArchive {
        what: String,
    },
    /// The merged filesystem of an image whose layers (lowest first) the worker fetches.
    Merge {
        layers: Vec<RemoteLayer>,
    },
    /// The bytes of the regular file at `path` in `layer`, as a Blob.
    Extract {
        layer: RemoteLayer,
        path: String,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FromWorker {
    Ready,
    Progress {
        done: u64,
        total: u64,
    },
    /// The layer is built; the blob is in the message's `blob` field.
    Built {
        diff_id: Digest,
        digest: Digest,
        size: u64,
        tar_size: u64,
        millis: f64,
        wasm_memory: u64,
    },
    /// Compressed block `number` of a shared build, in the `blob` field.
    Block {
        number: u64,
    },
    /// One share of the layer is built, after it posted its `blocks` blocks. `frame` is the
    /// gzip header and the 8-byte trailer; `diff_id` and `frame` come from share 0 only.
    ShardBuilt {
        diff_id: Option<Digest>,
        tar_size: u64,
        frame: Vec<u8>,
        blocks: u64,
        wasm_memory: u64,
    },
    HashReady,
    Hashed {
        digest: Digest,
        size: u64,
    },
    /// The next members of the layer being listed, in stream order.
    Entries {
        entries: Vec<StoredEntry>,
    },
    /// The listing is complete.
    Listed {
        count: u64,
        compression: String,
    },
    /// The image of an opened tar.
    Archive {
        image: crate::page::archive_base::ArchiveImage,
    },
    /// Merging has reached layer `layer` (from 1) of `layers`; `Progress` follows its bytes.
    Reading {
        layer: usize,
        layers: usize,
    },
    /// The next entries of the merged filesystem, in tree order.
    Merged {
        entries: Vec<MergedEntry>,
    },
    /// The merged filesystem is complete.
    MergeDone {
        count: u64,
    },
    /// A file is extracted; its bytes are the Blob in the `blob` field.
    Extracted {
        path: String,
        size: u64,
    },
    Failed {
        message: String,
    },
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
    let msg = js_sys::Reflect::get(data, &"msg".into()).map_err(|e| crate::page::failure::js_text(&e))?;
    serde_wasm_bindgen::from_value(msg).map_err(|e| e.to_string())
}

/// A field of an envelope other than `msg`.
pub fn field(data: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(data, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// Starts a layer build in a fresh worker, deflating only blocks `shard`, `shard + shards`, …
/// when `shards > 1`. `on_message` gets every message with its raw envelope. [`crate::page::layer_build`] drives this.
pub fn start_build(
    entries: Vec<WireEntry>,
    files: js_sys::Array,
    mtime: u64,
    gzip_profile: u8,
    (shard, shards): (u32, u32),
    on_message: impl FnMut(FromWorker, JsValue) + 'static,
) -> Result<WorkerJob, JsValue> {
    start(ToWorker::Build { entries, mtime, gzip_profile, shard, shards }, "files", files.into(), on_message)
}

/// Starts a streamed hash in a fresh worker: once it answers `HashReady`, post it
/// `HashPart`s and a `HashEnd` ([`post_part`], [`post_end`]); `Hashed` or `Failed` ends it.
pub fn start_hash(what: String, on_message: impl FnMut(FromWorker, JsValue) + 'static) -> Result<WorkerJob, JsValue> {
    start(ToWorker::Hash { what }, "none", JsValue::NULL, on_message)
}

/// Sends the next part of a streamed hash.
pub fn post_part(worker: &Worker, part: &web_sys::Blob) -> Result<(), JsValue> {
    worker.post_message(&envelope(&ToWorker::HashPart, &[("blob", part)])?.into())
}

/// Ends a streamed hash.
pub fn post_end(worker: &Worker) -> Result<(), JsValue> {
    worker.post_message(&envelope(&ToWorker::HashEnd, &[])?.into())
}

/// Lists the members of `layer` in a fresh worker that reads it as it downloads: `Progress`
/// (bytes fetched), `Entries` batches, then `Listed` or `Failed`. Dropping the job cancels.
pub fn start_listing(
    layer: RemoteLayer,
    on_message: impl FnMut(FromWorker, JsValue) + 'static,
) -> Result<WorkerJob, JsValue> {
    start(ToWorker::List { layer }, "none", JsValue::NULL, on_message)
}

/// Merges the layers of an image (lowest first) in a fresh worker: per layer `Reading` and
/// `Progress`, then `Merged` batches, then `MergeDone` or `Failed`.
pub fn start_merge(
    layers: Vec<RemoteLayer>,
    on_message: impl FnMut(FromWorker, JsValue) + 'static,
) -> Result<WorkerJob, JsValue> {
    start(ToWorker::Merge { layers }, "none", JsValue::NULL, on_message)
}

/// Extracts the regular file at `path` of `layer` in a fresh worker: `Progress`, then
/// `Extracted` (the Blob in the envelope's `blob` field) or `Failed`.
pub fn start_extract(
    layer: RemoteLayer,
    path: String,
    on_message: impl FnMut(FromWorker, JsValue) + 'static,
) -> Result<WorkerJob, JsValue> {
    start(ToWorker::Extract { layer, path }, "none", JsValue::NULL, on_message)
}

/// Reads the image tar `file` in a fresh worker: `Archive` or `Failed`.
pub fn start_open_archive(
    file: web_sys::File,
    on_message: impl FnMut(FromWorker, JsValue) + 'static,
) -> Result<WorkerJob, JsValue> {
    start(ToWorker::OpenArchive { what: file.name() }, "blob", file.into(), on_message)
}

/// A job in its own worker: spawned by [`start`], its events handed to a callback as they come
/// (a request that cannot be sent, or an answer that cannot be read, arrives as
/// [`FromWorker::Failed`]), the worker terminated after the job's last event. Dropping the
/// handle stops the job; [`WorkerJob::detach`] lets it run to its end instead.
pub struct WorkerJob {
    inner: Rc<JobInner>,
    keep: Rc<RefCell<Option<Rc<JobInner>>>>,
}

impl std::fmt::Debug for WorkerJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerJob").finish_non_exhaustive()
    }
}

/// A job's `onmessage` handler.
type Handler = Closure<dyn FnMut(MessageEvent)>;

struct JobInner {
    worker: Worker,
    handler: RefCell<Option<Handler>>,
}

impl Drop for JobInner {
    fn drop(&mut self) {
        self.worker.set_onmessage(None);
        self.worker.terminate();
        // The job may be dropped by its own handler (a callback that stops it): free the
        // handler once it has returned.
        if let Some(handler) = self.handler.borrow_mut().take() {
            wasm_bindgen_futures::spawn_local(async move { drop(handler) });
        }
    }
}

impl WorkerJob {
    /// The worker, for jobs that take more messages after the request ([`post_part`]).
    pub fn worker(&self) -> &Worker {
        &self.inner.worker
    }

    /// Lets the job run to its last event without a handle (it is dropped then).
    pub fn detach(self) {
        *self.keep.borrow_mut() = Some(Rc::clone(&self.inner));
    }
}

/// Starts `request` in a fresh worker, `side` travelling beside it in the field `field`.
fn start(
    request: ToWorker,
    field: &'static str,
    side: JsValue,
    mut on_message: impl FnMut(FromWorker, JsValue) + 'static,
) -> Result<WorkerJob, JsValue> {
    let worker = Worker::new("./worker_loader.js")?;
    let w = worker.clone();
    let keep: Rc<RefCell<Option<Rc<JobInner>>>> = Rc::default();
    let kept = Rc::clone(&keep);
    let mut request = Some((request, side));
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let data = e.data();
        let msg = match open::<FromWorker>(&data) {
            Ok(m) => m,
            Err(message) => FromWorker::Failed { message },
        };
        // The worker says Ready once its wasm is running: a message sent earlier is lost.
        if let FromWorker::Ready = msg {
            if let Some((request, side)) = request.take() {
                let env = envelope(&request, &[(field, &side)]);
                if let Err(e) = env.and_then(|env| w.post_message(&env)) {
                    let message = format!("cannot start the worker: {}", crate::page::failure::js_text(&e));
                    on_message(FromWorker::Failed { message }, JsValue::NULL);
                }
            }
            return;
        }
        let last = msg.is_last();
        if last {
            w.set_onmessage(None);
            w.terminate();
        }
        on_message(msg, data);
        if last {
            // A detached job ends here.
            drop(kept.borrow_mut().take());
        }
    });
    worker.set_onmessage(Some(handler.as_ref().unchecked_ref()));
    let inner = Rc::new(JobInner { worker, handler: RefCell::new(Some(handler)) });
    Ok(WorkerJob { inner, keep })
}

impl FromWorker {
    /// Whether this ends a job (its worker has nothing more to say).
    fn is_last(&self) -> bool {
        match self {
            FromWorker::Built { .. }
            | FromWorker::ShardBuilt { .. }
            | FromWorker::Hashed { .. }
            | FromWorker::Listed { .. }
            | FromWorker::MergeDone { .. }
            | FromWorker::Extracted { .. }
            | FromWorker::Archive { .. }
            | FromWorker::Failed { .. } => true,
            FromWorker::Ready
            | FromWorker::Progress { .. }
            | FromWorker::Entries { .. }
            | FromWorker::Reading { .. }
            | FromWorker::Merged { .. }
            | FromWorker::Block { .. }
            | FromWorker::HashReady => false,
        }
    }
}
