//! Building a layer from the dropped files: reads them ahead in pieces ([`ReadAhead`]), feeds
//! them to the core's layer encoder, and hands back a Blob of the gzip layer; or, for a build
//! spread over workers, one share of its gzip blocks.

use std::io;

use layerize_core::layer::gzip::{Deflate, Profile, Sequential};
use layerize_core::layer::share::ShareEncoder;
use layerize_core::layer::{Entry, EntryKind, LayerEncoder, LayerOptions, LayerPath, Plan};
use wasm_bindgen::JsCast;

use super::read_ahead::{Piece, ReadAhead};
use super::{Error, Reply};
use crate::blob_parts::BlobParts;
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
pub async fn build(reply: &Reply<Build>, job: Build) -> Result<Built, Error> {
    let started = js_sys::Date::now();
    let options = LayerOptions { mtime: job.mtime, gzip: gzip_profile(job.gzip_profile)? };
    let (entries, total) = self::entries(job.entries)?;
    let mut encoder = LayerEncoder::new(&options, Sequential, BlobParts::new())?;
    let reads = ReadAhead::new(&entries, &job.files, (0, 1), options.mtime)?;
    feed(&mut encoder, &entries, reads, progress(reply, total, |p| p)).await?;
    let (digests, sink) = encoder.finish()?;
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
pub async fn build_share(reply: &Reply<BuildShare>, job: BuildShare) -> Result<ShareBuilt, Error> {
    let options = LayerOptions { mtime: job.mtime, gzip: gzip_profile(job.gzip_profile)? };
    let (entries, total) = self::entries(job.entries)?;
    let mut blocks = 0u64;
    let emit = |number: u64, bytes: Vec<u8>| {
        let bytes = js_sys::Uint8Array::from(&bytes[..]);
        let buffer = bytes.buffer();
        reply.update_moving(ShareUpdate::Block { number, bytes }, &buffer);
        blocks += 1;
        Ok(())
    };
    let share = (job.shard, job.shards);
    let mut encoder = ShareEncoder::new(&options, share, emit)?;
    let reads = ReadAhead::new(&entries, &job.files, share, options.mtime)?;
    feed(&mut encoder, &entries, reads, progress(reply, total, ShareUpdate::Progress)).await?;
    let out = encoder.finish()?;
    Ok(ShareBuilt {
        diff_id: out.diff_id,
        tar_size: out.tar_size,
        frame: out.frame,
        blocks,
        wasm_memory: wasm_memory(),
    })
}

/// The core's two layer encoders, as [`feed`] drives them.
trait Encoder {
    fn add(&mut self, entry: &Entry<u32>) -> Result<(), layerize_core::Error>;
    fn piece(&mut self, piece: Piece) -> Result<u64, layerize_core::Error>;
}

impl<W: io::Write, D: Deflate> Encoder for LayerEncoder<W, D> {
    fn add(&mut self, entry: &Entry<u32>) -> Result<(), layerize_core::Error> {
        LayerEncoder::add(self, entry)
    }

    fn piece(&mut self, piece: Piece) -> Result<u64, layerize_core::Error> {
        match piece {
            Piece::Bytes(bytes) => self.content(&bytes).map(|()| bytes.len() as u64),
            // The whole layer reads every byte: `ReadAhead` skips nothing for share (0, 1).
            Piece::Skipped(_) => {
                Err(layerize_core::Error::LayerWrite { source: io::Error::other("a piece was skipped") })
            }
        }
    }
}

impl<F: FnMut(u64, Vec<u8>) -> io::Result<()>> Encoder for ShareEncoder<F> {
    fn add(&mut self, entry: &Entry<u32>) -> Result<(), layerize_core::Error> {
        ShareEncoder::add(self, entry)
    }

    fn piece(&mut self, piece: Piece) -> Result<u64, layerize_core::Error> {
        match piece {
            Piece::Bytes(bytes) => self.content(&bytes).map(|()| bytes.len() as u64),
            Piece::Skipped(n) => self.skip(n).map(|()| n),
        }
    }
}

/// Feeds `entries` to `encoder`, each file's content as `reads` brings it.
async fn feed(
    encoder: &mut impl Encoder,
    entries: &[Entry<u32>],
    mut reads: ReadAhead<'_, u32>,
    mut progress: impl FnMut(u64),
) -> Result<(), Error> {
    let mut done = 0;
    for entry in entries {
        encoder.add(entry)?;
        let EntryKind::File { size, .. } = entry.kind else { continue };
        let end = done + size;
        while done < end {
            let piece = reads.next().await.transpose()?.ok_or_else(|| Error::LostPlace(entry.path.to_string()))?;
            done += encoder.piece(piece)?;
            progress(done);
        }
    }
    Ok(())
}

/// The worker's wasm memory size: it only grows, so this is the peak of the build.
fn wasm_memory() -> u64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    let buffer: js_sys::ArrayBuffer = memory.buffer().unchecked_into();
    buffer.byte_length() as u64
}
