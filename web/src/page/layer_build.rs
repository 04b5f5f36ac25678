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

use js_sys::Uint8Array;
use layerize_core::layer::gzip::{Profile, HEADER};
use layerize_core::layer::LayerDigests;
use layerize_core::Digest;
use web_sys::{Blob, File};

use super::worker_job::{self, WorkerJob};
use super::Error;
use crate::protocol::build::{Built, ShareBuilt, ShareUpdate};
use crate::protocol::hash::{HashInput, HashUpdate, Hashed};
use crate::protocol::{Build, BuildShare, Hash, Progress, WireEntry};

/// What the page hears of a build.
#[derive(Debug)]
pub enum Event {
    Progress { done: u64, total: u64 },
    Built { digests: LayerDigests, blob: Blob, millis: f64, wasm_memory: u64 },
    Failed(Error),
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
    files: Vec<File>,
    mtime: u64,
    gzip: Profile,
    workers: u32,
    on_event: impl FnMut(Event) + 'static,
) -> Result<(), Error> {
    let gzip_profile = gzip.version().ok_or(Error::Internal("the page builds layers in a pinned gzip profile only"))?;
    let sink: Sink = Rc::new(RefCell::new(on_event));
    let started = js_sys::Date::now();
    if workers <= 1 {
        let sink = Rc::clone(&sink);
        let job = Build { entries, files, mtime, gzip_profile };
        let started = WorkerJob::start(job, move |event| {
            let event = match event {
                worker_job::Event::Update(Progress { done, total }) => Event::Progress { done, total },
                worker_job::Event::Done(Built { diff_id, digest, size, tar_size, millis, wasm_memory, blob }) => {
                    Event::Built {
                        digests: LayerDigests { diff_id, digest, size, tar_size },
                        blob,
                        millis,
                        wasm_memory,
                    }
                }
                worker_job::Event::Failed(e) => Event::Failed(e),
            };
            (sink.borrow_mut())(event);
        });
        return started.map(WorkerJob::detach);
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
    let hasher =
        WorkerJob::start(Hash { what: "the built layer".to_owned() }, move |event| on_hasher_message(&s, &k, event))?;
    state.borrow_mut().hasher = Some(hasher);
    state.borrow_mut().add_part(js_sys::Uint8Array::from(&HEADER[..]))?;
    for shard in 0..workers {
        let (s, k) = (Rc::clone(&state), Rc::clone(&sink));
        let job =
            BuildShare { entries: entries.clone(), files: files.clone(), mtime, gzip_profile, shard, shards: workers };
        let handle = WorkerJob::start(job, move |event| on_shard_message(&s, &k, shard as usize, event));
        match handle {
            Ok(w) => state.borrow_mut().workers.push(w),
            Err(e) => {
                state.borrow_mut().stop();
                return Err(e);
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
    workers: Vec<WorkerJob<BuildShare>>,
    hasher: Option<WorkerJob<Hash>>,
    /// The hasher takes parts only once it said `HashReady`; until then they wait here.
    hasher_ready: bool,
    queued: Vec<Uint8Array>,
    /// The gzip blob's parts so far, in order.
    parts: js_sys::Array,
    /// Blocks that came before the ones ahead of them.
    waiting: BTreeMap<u64, Uint8Array>,
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

    /// Appends `bytes` to the result (as a Blob, which the browser may keep on disk) and
    /// sends them to the hasher.
    fn add_part(&mut self, bytes: Uint8Array) -> Result<(), Error> {
        let blob = Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&bytes))
            .map_err(|e| Error::browser("cannot keep the layer's blocks", &e))?;
        self.parts.push(&blob);
        match (&self.hasher, self.hasher_ready) {
            (Some(h), true) => {
                let buffer = bytes.buffer();
                h.send_moving(&HashInput::Part { bytes }, &buffer)
            }
            _ => {
                self.queued.push(bytes);
                Ok(())
            }
        }
    }

    /// Moves every block that is next in line into the result.
    fn take_block(&mut self, number: u64, block: Uint8Array) -> Result<(), Error> {
        self.waiting.insert(number, block);
        while let Some(block) = self.waiting.remove(&self.next_block) {
            self.add_part(block)?;
            self.next_block += 1;
        }
        Ok(())
    }

    /// Once every share is done and every block is in: the trailer, and the end of the hash.
    fn finish_if_complete(&mut self) -> Result<bool, Error> {
        let results: Vec<&ShareResult> = self.results.iter().flatten().collect();
        if results.len() < self.results.len() {
            return Ok(false);
        }
        let first = results.first().ok_or(Error::Shares("no layer worker finished"))?;
        if results.iter().any(|r| r.tar_size != first.tar_size) {
            return Err(Error::Shares(
                "the layer workers disagree on the layer's size (a file changed while it was read?)",
            ));
        }
        if self.next_block != results.iter().map(|r| r.blocks).sum::<u64>() || !self.waiting.is_empty() {
            return Err(Error::MissingBlock(self.next_block));
        }
        let trailer = first
            .frame
            .get(HEADER.len()..)
            .filter(|t| t.len() == 8)
            .ok_or(Error::Shares("the first layer worker returned a malformed gzip frame"))?;
        self.add_part(Uint8Array::from(trailer))?;
        match &self.hasher {
            Some(h) if self.hasher_ready => h.send(&HashInput::End)?,
            _ => {}
        }
        Ok(true)
    }

    /// The result once the hasher has answered.
    fn built(&self, digest: Digest, size: u64) -> Result<Event, Error> {
        let results: Vec<&ShareResult> = self.results.iter().flatten().collect();
        let first = results.first().ok_or(Error::Shares("no layer worker finished"))?;
        let diff_id = first.diff_id.clone().ok_or(Error::Shares("the first layer worker returned no diffID"))?;
        let blob = Blob::new_with_blob_sequence(&self.parts)
            .map_err(|e| Error::browser("cannot join the layer's blocks", &e))?;
        if blob.size() as u64 != size {
            return Err(Error::JoinedSize { joined: blob.size() as u64, hashed: size });
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
fn fail(state: &Rc<RefCell<Shards>>, sink: &Sink, error: Error) {
    if state.borrow().failed {
        return;
    }
    state.borrow_mut().stop();
    (sink.borrow_mut())(Event::Failed(error));
}

fn on_shard_message(state: &Rc<RefCell<Shards>>, sink: &Sink, shard: usize, event: worker_job::Event<BuildShare>) {
    if state.borrow().failed {
        return;
    }
    match event {
        worker_job::Event::Update(ShareUpdate::Progress(Progress { done, total })) => {
            let event = {
                let mut s = state.borrow_mut();
                s.done[shard] = done;
                Event::Progress { done: s.done.iter().sum::<u64>() / s.done.len() as u64, total }
            };
            (sink.borrow_mut())(event);
        }
        worker_job::Event::Update(ShareUpdate::Block { number, bytes }) => {
            let taken = state.borrow_mut().take_block(number, bytes);
            if let Err(e) = taken {
                fail(state, sink, e);
            }
        }
        worker_job::Event::Done(ShareBuilt { diff_id, tar_size, frame, blocks, wasm_memory }) => {
            let finished = {
                let mut s = state.borrow_mut();
                s.results[shard] = Some(ShareResult { diff_id, tar_size, frame, blocks, wasm_memory });
                s.finish_if_complete()
            };
            if let Err(e) = finished {
                fail(state, sink, e);
            }
        }
        worker_job::Event::Failed(e) => fail(state, sink, e),
    }
}

fn on_hasher_message(state: &Rc<RefCell<Shards>>, sink: &Sink, event: worker_job::Event<Hash>) {
    if state.borrow().failed {
        return;
    }
    match event {
        worker_job::Event::Update(HashUpdate::Ready) => {
            let sent = {
                let mut s = state.borrow_mut();
                s.hasher_ready = true;
                let queued = std::mem::take(&mut s.queued);
                let complete = s.results.iter().all(Option::is_some) && s.waiting.is_empty();
                s.hasher.as_ref().map(|h| {
                    queued
                        .into_iter()
                        .try_for_each(|bytes| {
                            let buffer = bytes.buffer();
                            h.send_moving(&HashInput::Part { bytes }, &buffer)
                        })
                        .and_then(|()| if complete { h.send(&HashInput::End) } else { Ok(()) })
                })
            };
            if let Some(Err(e)) = sent {
                fail(state, sink, e);
            }
        }
        worker_job::Event::Done(Hashed { digest, size }) => {
            let event = state.borrow().built(digest, size);
            match event {
                Ok(event) => (sink.borrow_mut())(event),
                Err(e) => fail(state, sink, e),
            }
        }
        worker_job::Event::Failed(e) => fail(state, sink, e),
    }
}
