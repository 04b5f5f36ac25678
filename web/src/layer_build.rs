//! Builds a layer in Web Workers. Deflate is most of the work and wasm has no threads here, so
//! the build runs in one worker per core: each reads the dropped files and makes the whole tar
//! (cheap), but deflates only its share of the gzip blocks (the core's `gzip::Shard`). Their
//! blocks are then joined in order between the gzip header and trailer, and one more worker
//! hashes the joined blob. With one worker, that worker does it all in one pass.

use std::cell::RefCell;
use std::rc::Rc;

use layerize_core::layer::LayerDigests;
use layerize_core::Digest;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, Worker};

use crate::worker::{self, field, FromWorker, WireEntry};

/// What the page hears of a build.
#[derive(Debug)]
pub enum Event {
    Progress { done: u64, total: u64 },
    Built { digests: LayerDigests, blob: Blob, millis: f64, wasm_memory: u64 },
    Failed(String),
}

/// One worker per core the browser reports (at most 8: every worker also reads all input).
pub fn default_workers() -> u32 {
    web_sys::window().map(|w| w.navigator().hardware_concurrency() as u32).unwrap_or(1).clamp(1, 8)
}

type Sink = Rc<RefCell<dyn FnMut(Event)>>;

/// Starts the build of `entries` (files from `files`) in `workers` workers; `on_event` hears
/// progress and then exactly one `Built` or `Failed`.
pub fn start(entries: Vec<WireEntry>, files: js_sys::Array, mtime: u64, workers: u32, on_event: impl FnMut(Event) + 'static) -> Result<(), String> {
    let sink: Sink = Rc::new(RefCell::new(on_event));
    let started = js_sys::Date::now();
    if workers <= 1 {
        let sink = Rc::clone(&sink);
        let started = worker::start_build(entries, files, mtime, (0, 1), move |msg, data| {
            let event = match msg {
                FromWorker::Progress { done, total } => Event::Progress { done, total },
                FromWorker::Built { diff_id, digest, size, tar_size, millis, wasm_memory } => match (diff_id.parse(), digest.parse(), field(&data, "blob").dyn_into()) {
                    (Ok(diff_id), Ok(digest), Ok(blob)) => Event::Built { digests: LayerDigests { diff_id, digest, size, tar_size }, blob, millis, wasm_memory },
                    _ => Event::Failed("the layer worker returned a malformed result".to_owned()),
                },
                FromWorker::Failed { message } => Event::Failed(message),
                _ => return,
            };
            (sink.borrow_mut())(event);
        });
        return started.map(drop).map_err(|e| format!("cannot start the layer worker: {e:?}"));
    }
    let shards = Rc::new(RefCell::new(Shards { workers: Vec::new(), done: vec![0; workers as usize], results: Vec::new(), failed: false }));
    shards.borrow_mut().results.resize_with(workers as usize, || None);
    for shard in 0..workers {
        let (state, sink) = (Rc::clone(&shards), Rc::clone(&sink));
        let handle = worker::start_build(entries.clone(), files.clone(), mtime, (shard, workers), move |msg, data| {
            on_shard_message(&state, &sink, shard as usize, msg, &data, started);
        });
        match handle {
            Ok(w) => shards.borrow_mut().workers.push(w),
            Err(e) => {
                shards.borrow_mut().stop();
                return Err(format!("cannot start layer worker {shard}: {e:?}"));
            }
        }
    }
    Ok(())
}

/// A finished shard: its blocks (an array of Blobs in block order) and what it computed.
struct ShardResult {
    diff_id: String,
    tar_size: u64,
    frame: Vec<u8>,
    blocks: js_sys::Array,
    wasm_memory: u64,
}

struct Shards {
    workers: Vec<Worker>,
    done: Vec<u64>,
    results: Vec<Option<ShardResult>>,
    failed: bool,
}

impl Shards {
    fn stop(&mut self) {
        self.failed = true;
        self.workers.iter().for_each(Worker::terminate);
    }

    /// The gzip blob from every shard's blocks, interleaved by block number.
    fn join(&self) -> Result<Joined, String> {
        let results: Vec<&ShardResult> = self.results.iter().flatten().collect();
        let first = results.first().ok_or("no layer worker finished")?;
        if results.iter().any(|r| r.diff_id != first.diff_id || r.tar_size != first.tar_size || r.frame != first.frame) {
            return Err("the layer workers disagree on the layer's tar (a file changed while it was read?)".to_owned());
        }
        if first.frame.len() != 18 {
            return Err("a layer worker returned a malformed gzip frame".to_owned());
        }
        let parts = js_sys::Array::new();
        parts.push(&js_sys::Uint8Array::from(&first.frame[..10]));
        let total: u32 = results.iter().map(|r| r.blocks.length()).sum();
        for number in 0..total {
            let shard = results[(number as usize) % results.len()];
            let block = shard.blocks.get(number / results.len() as u32);
            if block.is_undefined() {
                return Err(format!("gzip block {number} is missing"));
            }
            parts.push(&block);
        }
        parts.push(&js_sys::Uint8Array::from(&first.frame[10..]));
        let blob = Blob::new_with_blob_sequence(&parts).map_err(|e| format!("cannot join the layer's blocks: {e:?}"))?;
        let diff_id = first.diff_id.parse().map_err(|_| "a layer worker returned a malformed diffID".to_owned())?;
        let wasm_memory = results.iter().map(|r| r.wasm_memory).max().unwrap_or(0);
        Ok(Joined { blob, diff_id, tar_size: first.tar_size, wasm_memory })
    }
}

/// The joined gzip blob, before its digest is known.
struct Joined {
    blob: Blob,
    diff_id: Digest,
    tar_size: u64,
    wasm_memory: u64,
}

fn on_shard_message(state: &Rc<RefCell<Shards>>, sink: &Sink, shard: usize, msg: FromWorker, data: &JsValue, started: f64) {
    if state.borrow().failed {
        return;
    }
    let fail = |message: String| {
        state.borrow_mut().stop();
        (sink.borrow_mut())(Event::Failed(message));
    };
    match msg {
        FromWorker::Progress { done, total } => {
            let event = {
                let mut s = state.borrow_mut();
                s.done[shard] = done;
                Event::Progress { done: s.done.iter().sum::<u64>() / s.done.len() as u64, total }
            };
            (sink.borrow_mut())(event);
        }
        FromWorker::ShardBuilt { diff_id, tar_size, frame, wasm_memory, .. } => {
            let Ok(blocks) = field(data, "blob").dyn_into::<js_sys::Array>() else {
                return fail("a layer worker returned no blocks".to_owned());
            };
            let joined = {
                let mut s = state.borrow_mut();
                s.results[shard] = Some(ShardResult { diff_id, tar_size, frame, blocks, wasm_memory });
                if s.results.iter().any(Option::is_none) {
                    return;
                }
                s.join()
            };
            match joined {
                Ok(joined) => hash(joined, Rc::clone(sink), started),
                Err(message) => fail(message),
            }
        }
        FromWorker::Failed { message } => fail(message),
        _ => {}
    }
}

/// Hashes the joined blob in one more worker and reports the build.
fn hash(joined: Joined, sink: Sink, started: f64) {
    let sink2 = Rc::clone(&sink);
    let Joined { blob, diff_id, tar_size, wasm_memory } = joined;
    let result = worker::start_hash("the built layer".to_owned(), blob.clone(), move |msg, _| {
        let event = match msg {
            FromWorker::Hashed { digest, size } => match digest.parse() {
                Ok(digest) => Event::Built {
                    digests: LayerDigests { diff_id: diff_id.clone(), digest, size, tar_size },
                    blob: blob.clone(),
                    millis: js_sys::Date::now() - started,
                    wasm_memory,
                },
                Err(_) => Event::Failed("the hashing worker returned a malformed digest".to_owned()),
            },
            FromWorker::Failed { message } => Event::Failed(message),
            _ => return,
        };
        (sink2.borrow_mut())(event);
    });
    if let Err(e) = result {
        (sink.borrow_mut())(Event::Failed(format!("cannot start the hashing worker: {e:?}")));
    }
}
