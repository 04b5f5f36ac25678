//! The layer Web Worker: builds a layer (reads the dropped files as streams, FileReaderSync,
//! 1 MiB at a time, runs the core's layer builder, hands back a Blob of the gzip layer), hashes
//! a blob sent in parts, opens an image tar, or reads remote layers as they download through
//! the core's push decoder (a listing, the merged filesystem, one file; see
//! `layerize_web::remote_layer`).

use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};

use layerize_core::digest::HashingWriter;
use layerize_core::layer::decode::Event;
use layerize_core::layer::gzip::{Profile, Sequential};
use layerize_core::layer::share::write_layer_share;
use layerize_core::layer::{write_layer, Entry, EntryKind, LayerOptions, LayerPath, Plan};
use layerize_web::blob_parts::BlobParts;
use layerize_web::protocol::{envelope, field, open, FromWorker, ToWorker, WireEntry, WireKind};
use layerize_web::worker::remote_layer::{RemoteLayer, Wanted};
use layerize_web::worker::{extract as file_extract, merge as merged_listing};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, DedicatedWorkerGlobalScope, FileReaderSync, MessageEvent};

fn main() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let reply = scope.clone();
    // A streamed hash (`Hash`, `HashPart`…, `HashEnd`) lives across messages.
    let mut hashing: Option<(String, HashingWriter<io::Sink>)> = None;
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let data = e.data();
        let (msg, blob) = match open::<ToWorker>(&data) {
            Ok(ToWorker::HashPart) => {
                let Some((what, sink)) = hashing.as_mut() else { return };
                let part: Result<Blob, _> = field(&data, "blob").dyn_into();
                match part.map_err(|_| "no part".to_owned()).and_then(|p| copy_blob(p, sink)) {
                    Ok(()) => return,
                    Err(e) => {
                        let message = format!("hashing {what}: {e}");
                        hashing = None;
                        (FromWorker::Failed { message }, None)
                    }
                }
            }
            Ok(ToWorker::Hash { what }) => {
                hashing = Some((what, HashingWriter::new(io::sink())));
                (FromWorker::HashReady, None)
            }
            Ok(ToWorker::HashEnd) => match hashing.take() {
                Some((_, sink)) => {
                    let (digest, size, _) = sink.finish();
                    (FromWorker::Hashed { digest, size }, None)
                }
                None => (FromWorker::Failed { message: "no hash was started".to_owned() }, None),
            },
            Ok(ToWorker::Build { entries, mtime, gzip_profile, shard, shards }) => {
                let files: js_sys::Array = field(&data, "files").unchecked_into();
                let built = match Profile::pinned(gzip_profile) {
                    None => Err(format!("there is no gzip profile {gzip_profile}")),
                    Some(gzip) if shards > 1 => {
                        build_shard(&reply, entries, &files, &LayerOptions { mtime, gzip }, shard, shards)
                    }
                    Some(gzip) => build(&reply, entries, &files, &LayerOptions { mtime, gzip }),
                };
                match built {
                    Ok((msg, blob)) => (msg, Some(blob)),
                    Err(message) => (FromWorker::Failed { message }, None),
                }
            }
            Ok(ToWorker::List { layer }) => {
                let scope = reply.clone();
                read_remote(reply.clone(), async move { list(&scope, &layer).await.map(|m| (m, None)) });
                return;
            }
            Ok(ToWorker::Merge { layers }) => {
                let scope = reply.clone();
                read_remote(reply.clone(), async move {
                    merged_listing::merge(&layers, &mut |msg| post(&scope, &msg, &[])).await.map(|m| (m, None))
                });
                return;
            }
            Ok(ToWorker::Extract { layer, path }) => {
                let scope = reply.clone();
                read_remote(reply.clone(), async move {
                    file_extract::extract(&layer, &path, &mut |msg| post(&scope, &msg, &[]))
                        .await
                        .map(|(m, blob)| (m, Some(blob.into())))
                });
                return;
            }
            Ok(ToWorker::OpenArchive { what }) => {
                let file: Result<Blob, _> = field(&data, "blob").dyn_into();
                match file.map_err(|_| format!("no file {what} to read")).and_then(|f| open_archive(&what, f)) {
                    Ok((msg, tar)) => (msg, Some(tar.into())),
                    Err(message) => (FromWorker::Failed { message }, None),
                }
            }
            Err(message) => (FromWorker::Failed { message }, None),
        };
        let blob = blob.unwrap_or(JsValue::NULL);
        post(&reply, &msg, &[("blob", &blob)]);
    });
    scope.set_onmessage(Some(handler.as_ref().unchecked_ref()));
    handler.forget();
    post(&scope, &FromWorker::Ready, &[]);
}

/// Runs `job` on remote layers (it awaits their downloads), then posts its answer.
fn read_remote(
    scope: DedicatedWorkerGlobalScope,
    job: impl Future<Output = Result<(FromWorker, Option<JsValue>), String>> + 'static,
) {
    wasm_bindgen_futures::spawn_local(async move {
        let (msg, blob) = job.await.unwrap_or_else(|message| (FromWorker::Failed { message }, None));
        post(&scope, &msg, &[("blob", &blob.unwrap_or(JsValue::NULL))]);
    });
}

fn post(scope: &DedicatedWorkerGlobalScope, msg: &FromWorker, extra: &[(&str, &JsValue)]) {
    if let Ok(env) = envelope(msg, extra) {
        let _ = scope.post_message(&env);
    }
}

/// The layer's entries in tar order, with the bytes of content they add.
fn entries(wire: Vec<WireEntry>) -> Result<(Vec<Entry<u32>>, u64), String> {
    let mut plan: Plan<u32> = Plan::new();
    for e in wire {
        let path = LayerPath::new(&e.path).map_err(|e| e.to_string())?;
        let kind = match e.kind {
            WireKind::File { mode, size, index } => EntryKind::File { mode, size, source: index },
            WireKind::Whiteout => EntryKind::Whiteout,
        };
        plan.add(path, kind).map_err(|e| e.to_string())?;
    }
    let total = plan.content_size();
    Ok((plan.into_entries(), total))
}

/// Opens dropped file number `index` of `files` for reading in slices.
fn opener(files: &js_sys::Array) -> Result<impl FnMut(&u32) -> io::Result<FileRead> + '_, String> {
    let reader = FileReaderSync::new().map_err(|e| layerize_web::page::failure::js_text(&e))?;
    Ok(move |index: &u32| -> io::Result<FileRead> {
        let blob: Blob = files.get(*index).dyn_into().map_err(|_| io::Error::other("not a file"))?;
        Ok(FileRead::new(blob, reader.clone()))
    })
}

/// Posts `Progress` every 4 MiB of content and at the end.
fn progress(scope: &DedicatedWorkerGlobalScope, total: u64) -> impl FnMut(u64) + '_ {
    let mut last = 0u64;
    move |done: u64| {
        if done - last >= 4 << 20 || done == total {
            last = done;
            post(scope, &FromWorker::Progress { done, total }, &[]);
        }
    }
}

/// Builds the whole layer here: the gzip blob comes back as one Blob.
fn build(
    scope: &DedicatedWorkerGlobalScope,
    wire: Vec<WireEntry>,
    files: &js_sys::Array,
    options: &LayerOptions,
) -> Result<(FromWorker, JsValue), String> {
    let started = js_sys::Date::now();
    let (entries, total) = self::entries(wire)?;
    let sink = BlobParts::new();
    let (digests, sink) = write_layer(&entries, options, opener(files)?, Sequential, sink, &mut progress(scope, total))
        .map_err(|e| e.to_string())?;
    let blob = sink.finish().map_err(|e| layerize_web::page::failure::js_text(&e))?;
    let msg = FromWorker::Built {
        diff_id: digests.diff_id,
        digest: digests.digest,
        size: digests.size,
        tar_size: digests.tar_size,
        millis: js_sys::Date::now() - started,
        wasm_memory: wasm_memory(),
    };
    Ok((msg, blob.into()))
}

/// Builds share `shard` of `shards` of the layer (the core's `layer::share`): deflates only
/// the blocks the core's `gzip::share_of` gives it, and past share 0 reads only their bytes.
/// The page runs one such worker per core and interleaves their blocks. Each block is posted
/// as its own Blob as soon as it is made, so the page can hash the blob while it is built.
fn build_shard(
    scope: &DedicatedWorkerGlobalScope,
    wire: Vec<WireEntry>,
    files: &js_sys::Array,
    options: &LayerOptions,
    shard: u32,
    shards: u32,
) -> Result<(FromWorker, JsValue), String> {
    let (entries, total) = self::entries(wire)?;
    let mut blocks = 0u64;
    let emit = |number: u64, bytes: Vec<u8>| {
        let part = js_sys::Array::of1(&js_sys::Uint8Array::from(&bytes[..]));
        let block = Blob::new_with_u8_array_sequence(&part)
            .map_err(|e| io::Error::other(layerize_web::page::failure::js_text(&e)))?;
        post(scope, &FromWorker::Block { number }, &[("blob", &block)]);
        blocks += 1;
        Ok(())
    };
    let out = write_layer_share(&entries, options, opener(files)?, (shard, shards), emit, &mut progress(scope, total))
        .map_err(|e| e.to_string())?;
    let msg = FromWorker::ShardBuilt {
        diff_id: out.diff_id,
        tar_size: out.tar_size,
        frame: out.frame,
        blocks,
        wasm_memory: wasm_memory(),
    };
    Ok((msg, JsValue::NULL))
}

/// Feeds all of `blob` to `sink`, read in slices.
fn copy_blob(blob: Blob, sink: &mut impl io::Write) -> Result<(), String> {
    let reader = FileReaderSync::new().map_err(|e| layerize_web::page::failure::js_text(&e))?;
    let mut source = FileRead::new(blob, reader);
    io::copy(&mut source, sink).map(drop).map_err(|e| e.to_string())
}

/// Members per `Entries` message at most: few enough messages for a large layer.
const BATCH: usize = 500;

/// Lists `layer` as it downloads (see `RemoteLayer::read_verified`), posting members in
/// batches: the first at once, then every [`BATCH`] members or 100 ms, so rows show as soon
/// as they are read.
async fn list(scope: &DedicatedWorkerGlobalScope, layer: &RemoteLayer) -> Result<FromWorker, String> {
    let mut fetched = |done: u64, total: u64| post(scope, &FromWorker::Progress { done, total }, &[]);
    let mut count = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    let mut posted = 0.0;
    let mut take = |event: Event<'_>| -> Result<Wanted, layerize_core::Error> {
        let Event::Member(member) = event else { return Ok(Wanted::More) };
        batch.push(member.entry.clone());
        count += 1;
        let now = js_sys::Date::now();
        if batch.len() == BATCH || count == 1 || now - posted > 100.0 {
            post(scope, &FromWorker::Entries { entries: std::mem::take(&mut batch) }, &[]);
            posted = now;
        }
        Ok(Wanted::More)
    };
    let compression = layer.read_verified(&mut fetched, &mut take).await?;
    if !batch.is_empty() {
        post(scope, &FromWorker::Entries { entries: batch }, &[]);
    }
    let compression = format!("{compression:?}").to_lowercase();
    Ok(FromWorker::Listed { count, compression })
}

/// The worker's wasm memory size: it only grows, so this is the peak of the build.
fn wasm_memory() -> u64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let buffer: js_sys::ArrayBuffer = memory.buffer().unchecked_into();
    buffer.byte_length() as u64
}

/// Bytes per read from a dropped file.
const CHUNK: f64 = (1 << 20) as f64;

/// Reads the image tar `file` (see `layerize_web::archive_base`); returns the image and the plain tar its layers are sliced from:
/// `file` itself, or, when it is gzipped, the tar decompressed into Blob parts first (layers
/// must be read by offset; Chromium keeps large Blobs on disk).
fn open_archive(what: &str, file: Blob) -> Result<(FromWorker, Blob), String> {
    let reader = FileReaderSync::new().map_err(|e| layerize_web::page::failure::js_text(&e))?;
    let read = |blob: &Blob| FileRead::new(blob.clone(), reader.clone());
    let mut magic = [0u8; 2];
    let gzipped = read(&file).read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let tar = if gzipped {
        let mut out = BlobParts::new();
        // Only the tar is kept, checked as it streams: a gzip bomb stops at its first block.
        layerize_core::archive::copy_tar(flate2::read::MultiGzDecoder::new(read(&file)), &mut out)
            .map_err(|e| format!("{what}: {e}"))?;
        out.finish()
            .map_err(|e| format!("{what}: keeping the gunzipped tar: {}", layerize_web::page::failure::js_text(&e)))?
    } else {
        file
    };
    let image = layerize_web::page::archive_base::read_image(read(&tar)).map_err(|e| format!("{what}: {e}"))?;
    Ok((FromWorker::Archive { image }, tar))
}

/// An opened image tar is read by offset (the core indexes where its members lie, then reads
/// the small ones), and a later layer share seeks past the blocks it does not deflate. A seek
/// inside the slice already read reuses it.
impl Seek for FileRead {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let start = self.pos - self.buf.len() as f64;
        let current = start + self.at as f64;
        let target = match to {
            SeekFrom::Start(n) => n as f64,
            SeekFrom::End(d) => self.size + d as f64,
            SeekFrom::Current(d) => current + d as f64,
        };
        if target < 0.0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the file"));
        }
        if target >= start && target <= self.pos {
            self.at = (target - start) as usize;
        } else {
            self.pos = target;
            self.buf.clear();
            self.at = 0;
        }
        Ok(target as u64)
    }
}

/// A dropped file (or an opened tar) read synchronously in slices: never the whole file in wasm memory.
struct FileRead {
    blob: Blob,
    size: f64,
    pos: f64,
    reader: FileReaderSync,
    buf: Vec<u8>,
    at: usize,
}

impl FileRead {
    fn new(blob: Blob, reader: FileReaderSync) -> FileRead {
        FileRead { size: blob.size(), blob, pos: 0.0, reader, buf: Vec::new(), at: 0 }
    }
}

impl Read for FileRead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.buf.len() {
            if self.pos >= self.size {
                return Ok(0);
            }
            let end = (self.pos + CHUNK).min(self.size);
            let slice = self
                .blob
                .slice_with_f64_and_f64(self.pos, end)
                .map_err(|e| io::Error::other(layerize_web::page::failure::js_text(&e)))?;
            let array = self
                .reader
                .read_as_array_buffer(&slice)
                .map_err(|e| io::Error::other(layerize_web::page::failure::js_text(&e)))?;
            self.buf = js_sys::Uint8Array::new(&array).to_vec();
            self.at = 0;
            self.pos = end;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
