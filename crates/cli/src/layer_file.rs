//! Building a layer from a plan into a file, with the deflate work spread over all cores.
//! The output is written to a temporary name beside its destination and renamed into place,
//! so a failed build never leaves a half-written file.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Result;
use layerize_core::layer::gzip::{Profile, Sequential};
use layerize_core::layer::{write_layer, LayerDigests, LayerOptions, Plan};
use tempfile::NamedTempFile;

use crate::deflate::Parallel;

/// Writes the layer to a new temporary file in `dir`; the caller persists or drops it.
/// `threads` deflate workers (0: one per core; 1: everything on this thread, the way the
/// page's worker runs it).
pub fn build(
    plan: Plan<PathBuf>,
    options: &LayerOptions,
    threads: usize,
    dir: &Path,
) -> Result<(LayerDigests, NamedTempFile)> {
    let temp = crate::scratch::create_in(dir)?;
    let sink = BufWriter::with_capacity(1 << 20, temp.as_file().try_clone()?);
    let entries = plan.into_entries();
    let open = |p: &PathBuf| File::open(p);
    let (digests, sink) = match threads {
        1 => write_layer(&entries, options, open, Sequential, sink, &mut |_| {})?,
        0 => write_layer(&entries, options, open, Parallel::for_this_machine(), sink, &mut |_| {})?,
        n => write_layer(&entries, options, open, Parallel::new(n), sink, &mut |_| {})?,
    };
    // Flushed, not fsynced: like docker save and skopeo, durability is left to the system;
    // the rename into place still makes the file appear only when complete.
    sink.into_inner().map_err(|e| e.into_error())?;
    Ok((digests, temp))
}

/// `--gzip-profile`: the number of a pinned gzip profile, 1 or 2.
pub fn parse_profile(s: &str) -> Result<Profile, String> {
    s.parse::<u8>()
        .ok()
        .and_then(Profile::pinned)
        .ok_or_else(|| format!("{s:?} is not a gzip profile: 1 (every block deflated, as before) or 2 (noise stored)"))
}
