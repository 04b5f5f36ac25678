//! Builds a layer in Web Workers. Deflate is most of the work and wasm has no threads here, so
//! the build runs in one worker per core, each building one share of the layer (the core's
//! `layer::share`): it deflates its part of the gzip blocks, and all but the first read only
//! the bytes of their own blocks. Each block comes back as soon as it is made; the page puts
//! them in order behind the gzip header and streams them into one more worker that hashes the
//! blob while it is being built, so the digest is ready right after the last block. With one
//! worker, that worker does it all in one pass.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use layerize_core::layer::gzip::{Profile, HEADER};
use layerize_core::layer::LayerDigests;
use layerize_core::Digest;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Blob;

use crate::protocol::{self, field, FromWorker, WireEntry, WorkerJob};

/// What the page hears of a build.
#[derive(Debug)]
pub enum Event {
    Progress { done: u64, total: u64 },
    Built { digests: LayerDigests, blob: Blob, millis: f64, wasm_memory: u64 },
    Failed(String),
}

/// One worker per core the browser reports (at most 8: share 0 still reads every byte, and the
/// hashing worker runs beside them).
pub fn default_workers() -> u32 {
    web_sys::window().map(|w| w.navigator().hardware_concurrency() as u32).unwrap_or(1).clamp(1, 8)
}

type Sink = Rc<RefCell<dyn FnMut(Event)>>;

/// Starts the build of `entries` (files from `files`) in `workers` workers; `on_event` hears
/// progress and then exactly one `Built` or `Failed`.
pub fn start(
    entries: Vec<WireEntry>,
    files: js_sys::Array,
    mtime: u64,
    gzip: Profile,
    workers: u32,
    on_event: impl FnMut(Event) + 'static,
) -> Result<(), String> {
    let gzip_profile = gzip.version().ok_or("the page builds layers in a pinned gzip profile only")?;
    let sink: Sink = Rc::new(RefCell::new(on_event));
    let started = js_sys::Date::now();
    if workers <= 1 {
        let sink = Rc::clone(&sink);
        let started = protocol::start_build(entries, files, mtime, gzip_profile, (0, 1), move |msg, data| {
            let event = match msg {
                FromWorker::Progress { done, total } => Event::Progress { done, total },
                FromWorker::Built { diff_id, digest, size, tar_size, millis, wasm_memory } => {
                    match field(&data, "blob").dyn_into() {
                        Ok(blob) => Event::Built {
                            digests: LayerDigests { diff_id, digest, size, tar_size },
                            blob,
                            millis,
                            wasm_memory,
                        },
                        Err(_) => Event::Failed("the layer worker sent no layer".to_owned()),
                    }
                }
                FromWorker::Failed { message } => Event::Failed(message),
                _ => return,
            };
            (sink.borrow_mut())(event);
        });
        return started
            .map(WorkerJob::detach)
            .map_err(|e| format!("cannot start the layer worker: {}", crate::page::failure::js_text(&e)));
    }
    let state = Rc::new(RefCell::new(Shards {
        workers: Vec::new(),
        hasher: None,
        hasher_ready: false,
        queued: Vec::new(),
        parts: js_sys::Array::new(),
        waiting: BTreeMap::new(),
        next_block: 0,
        done: vec![0; workers as usize],
        results: (0..workers).map(|_| None).collect(),
        failed: false,
        started,
    }));
    // The hasher first, so it is running when the first blocks come.
    let (s, k) = (Rc::clone(&state), Rc::clone(&sink));
    let hasher = protocol::start_hash("the built layer".to_owned(), move |msg, _| on_hasher_message(&s, &k, msg))
        .map_err(|e| format!("cannot start the hashing worker: {}", crate::page::failure::js_text(&e)))?;
    state.borrow_mut().hasher = Some(hasher);
    let header = js_sys::Uint8Array::from(&HEADER[..]);
    state
        .borrow_mut()
        .add_part(&header)
        .map_err(|e| format!("cannot hash the layer: {}", crate::page::failure::js_text(&e)))?;
    for shard in 0..workers {
        let (s, k) = (Rc::clone(&state), Rc::clone(&sink));
        let handle = protocol::start_build(
            entries.clone(),
            files.clone(),
            mtime,
            gzip_profile,
            (shard, workers),
            move |msg, data| {
                on_shard_message(&s, &k, shard as usize, msg, &data);
            },
        );
        match handle {
            Ok(w) => state.borrow_mut().workers.push(w),
            Err(e) => {
                state.borrow_mut().stop();
                return Err(format!("cannot start layer worker {shard}: {}", crate::page::failure::js_text(&e)));
            }
        }
    }
    Ok(())
}

/// What a finished share computed.
struct ShareResult {
    diff_id: Option<Digest>,
    tar_size: u64,
    frame: Vec<u8>,
    blocks: u64,
    wasm_memory: u64,
}

/// A build spread over shares: blocks arrive from them out of order, are put in order here,
/// and go on (as Blob parts) into the result and into the hasher as soon as they are next.
struct Shards {
    workers: Vec<WorkerJob>,
    hasher: Option<WorkerJob>,
    /// The hasher takes parts only once it said `HashReady`; until then they wait here.
    hasher_ready: bool,
    queued: Vec<Blob>,
    /// The gzip blob's parts so far, in order.
    parts: js_sys::Array,
    /// Blocks that came before the ones ahead of them.
    waiting: BTreeMap<u64, Blob>,
    next_block: u64,
    done: Vec<u64>,
    results: Vec<Option<ShareResult>>,
    failed: bool,
    started: f64,
}

impl Shards {
    fn stop(&mut self) {
        self.failed = true;
        self.workers.clear();
        self.hasher = None;
    }

    /// Appends `part` (a Blob or bytes) to the result and sends it to the hasher.
    fn add_part(&mut self, part: &JsValue) -> Result<(), JsValue> {
        let blob = match part.dyn_ref::<Blob>() {
            Some(b) => b.clone(),
            None => Blob::new_with_u8_array_sequence(&js_sys::Array::of1(part))?,
        };
        self.parts.push(&blob);
        match (&self.hasher, self.hasher_ready) {
            (Some(h), true) => protocol::post_part(h.worker(), &blob),
            _ => {
                self.queued.push(blob);
                Ok(())
            }
        }
    }

    /// Moves every block that is next in line into the result.
    fn take_block(&mut self, number: u64, block: Blob) -> Result<(), JsValue> {
        self.waiting.insert(number, block);
        while let Some(block) = self.waiting.remove(&self.next_block) {
            self.add_part(&block)?;
            self.next_block += 1;
        }
        Ok(())
    }

    /// Once every share is done and every block is in: the trailer, and the end of the hash.
    fn finish_if_complete(&mut self) -> Result<bool, String> {
        let results: Vec<&ShareResult> = self.results.iter().flatten().collect();
        if results.len() < self.results.len() {
            return Ok(false);
        }
        let first = results.first().ok_or("no layer worker finished")?;
        if results.iter().any(|r| r.tar_size != first.tar_size) {
            return Err("the layer workers disagree on the layer's size (a file changed while it was read?)".to_owned());
        }
        if self.next_block != results.iter().map(|r| r.blocks).sum::<u64>() || !self.waiting.is_empty() {
            return Err(format!("gzip block {} is missing", self.next_block));
        }
        let trailer = first
            .frame
            .get(HEADER.len()..)
            .filter(|t| t.len() == 8)
            .ok_or("the first layer worker returned a malformed gzip frame")?;
        let trailer = js_sys::Uint8Array::from(trailer);
        self.add_part(&trailer).map_err(|e| format!("cannot hash the layer: {}", crate::page::failure::js_text(&e)))?;
        match &self.hasher {
            Some(h) if self.hasher_ready => protocol::post_end(h.worker())
                .map_err(|e| format!("cannot hash the layer: {}", crate::page::failure::js_text(&e)))?,
            _ => {}
        }
        Ok(true)
    }

    /// The result once the hasher has answered.
    fn built(&self, digest: Digest, size: u64) -> Result<Event, String> {
        let results: Vec<&ShareResult> = self.results.iter().flatten().collect();
        let first = results.first().ok_or("no layer worker finished")?;
        let diff_id = first.diff_id.clone().ok_or("the first layer worker returned no diffID")?;
        let blob = Blob::new_with_blob_sequence(&self.parts)
            .map_err(|e| format!("cannot join the layer's blocks: {}", crate::page::failure::js_text(&e)))?;
        if blob.size() as u64 != size {
            return Err(format!("the joined layer has {} bytes, the hashed one {size}", blob.size()));
        }
        Ok(Event::Built {
            digests: LayerDigests { diff_id, digest, size, tar_size: first.tar_size },
            blob,
            millis: js_sys::Date::now() - self.started,
            wasm_memory: results.iter().map(|r| r.wasm_memory).max().unwrap_or(0),
        })
    }
}

/// Stops everything and reports `message` once.
fn fail(state: &Rc<RefCell<Shards>>, sink: &Sink, message: String) {
    if state.borrow().failed {
        return;
    }
    state.borrow_mut().stop();
    (sink.borrow_mut())(Event::Failed(message));
}

fn on_shard_message(state: &Rc<RefCell<Shards>>, sink: &Sink, shard: usize, msg: FromWorker, data: &JsValue) {
    if state.borrow().failed {
        return;
    }
    match msg {
        FromWorker::Progress { done, total } => {
            let event = {
                let mut s = state.borrow_mut();
                s.done[shard] = done;
                Event::Progress { done: s.done.iter().sum::<u64>() / s.done.len() as u64, total }
            };
            (sink.borrow_mut())(event);
        }
        FromWorker::Block { number } => {
            let taken = match field(data, "blob").dyn_into::<Blob>() {
                Ok(block) => {
                    state.borrow_mut().take_block(number, block).map_err(|e| crate::page::failure::js_text(&e))
                }
                Err(_) => Err(format!("gzip block {number} came without its bytes")),
            };
            if let Err(e) = taken {
                fail(state, sink, format!("joining the layer's blocks: {e}"));
            }
        }
        FromWorker::ShardBuilt { diff_id, tar_size, frame, blocks, wasm_memory } => {
            let finished = {
                let mut s = state.borrow_mut();
                s.results[shard] = Some(ShareResult { diff_id, tar_size, frame, blocks, wasm_memory });
                s.finish_if_complete()
            };
            if let Err(message) = finished {
                fail(state, sink, message);
            }
        }
        FromWorker::Failed { message } => fail(state, sink, message),
        _ => {}
    }
}

fn on_hasher_message(state: &Rc<RefCell<Shards>>, sink: &Sink, msg: FromWorker) {
    if state.borrow().failed {
        return;
    }
    match msg {
        FromWorker::HashReady => {
            let sent = {
                let mut s = state.borrow_mut();
                s.hasher_ready = true;
                let queued = std::mem::take(&mut s.queued);
                let hasher = s.hasher.as_ref().map(|h| h.worker().clone());
                let complete = s.results.iter().all(Option::is_some) && s.waiting.is_empty();
                hasher.map(|h| {
                    queued.iter().try_for_each(|part| protocol::post_part(&h, part)).and_then(|()| {
                        if complete {
                            protocol::post_end(&h)
                        } else {
                            Ok(())
                        }
                    })
                })
            };
            if let Some(Err(e)) = sent {
                fail(state, sink, format!("cannot hash the layer: {}", crate::page::failure::js_text(&e)));
            }
        }
        FromWorker::Hashed { digest, size } => {
            let event = state.borrow().built(digest, size);
            match event {
                Ok(event) => (sink.borrow_mut())(event),
                Err(message) => fail(state, sink, message),
            }
        }
        FromWorker::Failed { message } => fail(state, sink, message),
        _ => {}
    }
}
