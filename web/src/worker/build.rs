//! Building a layer from the dropped files: reads them as streams (FileReaderSync, 1 MiB at a
//! time), runs the core's layer builder, and hands back a Blob of the gzip layer; or, for a
//! build spread over workers, one share of its gzip blocks.

use std::io;

use layerize_core::layer::gzip::{Profile, Sequential};
use layerize_core::layer::share::write_layer_share;
use layerize_core::layer::{write_layer, Entry, EntryKind, LayerOptions, LayerPath, Plan};
use wasm_bindgen::JsCast;
use web_sys::{Blob, File, FileReaderSync};

use super::file_read::FileRead;
use super::{Error, Reply};
use crate::blob_parts::BlobParts;
use crate::js_error::js_text;
use crate::protocol::build::{Built, ShareBuilt, ShareUpdate};
use crate::protocol::{Build, BuildShare, Job, Progress, WireEntry, WireKind};

/// The layer's entries in tar order, with the bytes of content they add.
fn entries(wire: Vec<WireEntry>) -> Result<(Vec<Entry<u32>>, u64), Error> {
    let mut plan: Plan<u32> = Plan::new();
    for e in wire {
        let path = LayerPath::new(&e.path)?;
        let kind = match e.kind {
            WireKind::File { mode, size, index } => EntryKind::File { mode, size, source: index },
            WireKind::Whiteout => EntryKind::Whiteout,
        };
        plan.add(path, kind)?;
    }
    let total = plan.content_size();
    Ok((plan.into_entries(), total))
}

/// Opens dropped file number `index` of `files` for reading in slices.
fn opener(files: &[File]) -> Result<impl FnMut(&u32) -> io::Result<FileRead> + '_, Error> {
    let reader = FileReaderSync::new().map_err(|e| Error::browser("reading the dropped files", &e))?;
    Ok(move |index: &u32| -> io::Result<FileRead> {
        let file = files.get(*index as usize).ok_or_else(|| io::Error::other(format!("no dropped file {index}")))?;
        Ok(FileRead::new(file.clone().into(), reader.clone()))
    })
}

/// Posts progress every 4 MiB of content and at the end.
fn progress<J: Job>(reply: &Reply<J>, total: u64, wrap: fn(Progress) -> J::Update) -> impl FnMut(u64) + '_ {
    let mut last = 0u64;
    move |done: u64| {
        if done - last >= 4 << 20 || done == total {
            last = done;
            reply.update(wrap(Progress { done, total }));
        }
    }
}

fn gzip_profile(version: u8) -> Result<Profile, Error> {
    Profile::pinned(version).ok_or(Error::NoGzipProfile(version))
}

/// Builds the whole layer here: the gzip blob comes back as one Blob.
pub fn build(reply: &Reply<Build>, job: Build) -> Result<Built, Error> {
    let started = js_sys::Date::now();
    let options = LayerOptions { mtime: job.mtime, gzip: gzip_profile(job.gzip_profile)? };
    let (entries, total) = self::entries(job.entries)?;
    let sink = BlobParts::new();
    let (digests, sink) =
        write_layer(&entries, &options, opener(&job.files)?, Sequential, sink, &mut progress(reply, total, |p| p))?;
    let blob = sink.finish().map_err(|e| Error::browser("keeping the built layer", &e))?;
    Ok(Built {
        diff_id: digests.diff_id,
        digest: digests.digest,
        size: digests.size,
        tar_size: digests.tar_size,
        millis: js_sys::Date::now() - started,
        wasm_memory: wasm_memory(),
        blob,
    })
}

/// Builds share `shard` of `shards` of the layer (the core's `layer::share`): deflates only
/// the blocks the core's `gzip::share_of` gives it, and past share 0 reads only their bytes.
/// The page runs one such worker per core and interleaves their blocks. Each block is posted
/// as its own Blob as soon as it is made, so the page can hash the blob while it is built.
pub fn build_share(reply: &Reply<BuildShare>, job: BuildShare) -> Result<ShareBuilt, Error> {
    let options = LayerOptions { mtime: job.mtime, gzip: gzip_profile(job.gzip_profile)? };
    let (entries, total) = self::entries(job.entries)?;
    let mut blocks = 0u64;
    let emit = |number: u64, bytes: Vec<u8>| {
        let part = js_sys::Array::of1(&js_sys::Uint8Array::from(&bytes[..]));
        let blob = Blob::new_with_u8_array_sequence(&part).map_err(|e| io::Error::other(js_text(&e)))?;
        reply.update(ShareUpdate::Block { number, blob });
        blocks += 1;
        Ok(())
    };
    let out = write_layer_share(
        &entries,
        &options,
        opener(&job.files)?,
        (job.shard, job.shards),
        emit,
        &mut progress(reply, total, ShareUpdate::Progress),
    )?;
    Ok(ShareBuilt {
        diff_id: out.diff_id,
        tar_size: out.tar_size,
        frame: out.frame,
        blocks,
        wasm_memory: wasm_memory(),
    })
}

/// The worker's wasm memory size: it only grows, so this is the peak of the build.
fn wasm_memory() -> u64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let buffer: js_sys::ArrayBuffer = memory.buffer().unchecked_into();
    buffer.byte_length() as u64
}
