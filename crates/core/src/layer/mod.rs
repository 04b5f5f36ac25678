//! Building a layer: entries → tar → diffID hash → gzip → blob hash and size → sink, in one
//! streaming pass. Nothing is held in memory beyond one gzip block per worker.

pub mod decode;
pub mod entry;
pub mod gunzip;
pub mod gzip;
pub mod read;
pub mod share;
mod tar;
mod untar;
pub mod unzstd;

use std::io::{self, Read, Write};

use serde::Serialize;

pub use self::entry::{Entry, EntryKind, LayerPath, Plan, MODE_EXEC, MODE_FILE};
use self::gzip::{Deflate, GzipWriter, Profile};
use self::tar::TarWriter;
use crate::digest::{Digest, HashingWriter};
use crate::error::Error;

/// Choices that change the layer's bytes.
#[derive(Clone, Debug, Default)]
pub struct LayerOptions {
    /// Modification time of every entry, seconds since the epoch (0 unless chosen).
    pub mtime: u64,
    /// The pinned gzip profile (version 2 unless chosen; version 1 reproduces the digests of
    /// layers built before version 2 existed).
    pub gzip: Profile,
}

/// What a built layer is known by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LayerDigests {
    /// sha256 of the uncompressed tar (goes into the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// sha256 of the gzip blob (goes into the manifest).
    pub digest: Digest,
    /// Size of the gzip blob in bytes.
    pub size: u64,
    /// Size of the uncompressed tar in bytes.
    pub tar_size: u64,
}

/// Writes the layer for `entries` (in the order [`Plan::into_entries`] gives) to `sink`.
/// `open` returns the bytes of a file entry's source; `progress` is told the number of file
/// bytes read so far.
pub fn write_layer<S, R, W, D>(
    entries: &[Entry<S>],
    options: &LayerOptions,
    open: impl FnMut(&S) -> io::Result<R>,
    deflate: D,
    sink: W,
    progress: &mut dyn FnMut(u64),
) -> Result<(LayerDigests, W), Error>
where
    R: Read,
    W: Write,
    D: Deflate,
{
    let write_err = |source: io::Error| Error::LayerWrite { source };
    let blob = HashingWriter::new(sink);
    let gzip = GzipWriter::with_profile(blob, deflate, options.gzip).map_err(write_err)?;
    let mut tar = TarWriter::new(HashingWriter::new(gzip), options.mtime);
    append_entries(&mut tar, entries, open, progress, true)?;
    let (diff_id, tar_size, gzip) = tar.into_inner().map_err(write_err)?.finish();
    let (digest, size, sink) = gzip.finish().map_err(write_err)?.finish();
    Ok((LayerDigests { diff_id, digest, size, tar_size }, sink))
}

/// Writes every entry to `tar`, reading each file's content from `open` and holding it to the
/// size the plan gave it (a file that grew is noticed only with `check_growth`: a reader that
/// does not see every byte cannot tell).
fn append_entries<S, R: Read, W: Write>(
    tar: &mut TarWriter<W>,
    entries: &[Entry<S>],
    mut open: impl FnMut(&S) -> io::Result<R>,
    progress: &mut dyn FnMut(u64),
    check_growth: bool,
) -> Result<(), Error> {
    let write_err = |source: io::Error| Error::LayerWrite { source };
    let mut done = 0u64;
    for entry in entries {
        let EntryKind::File { size, source, .. } = &entry.kind else {
            tar.append(entry, io::empty()).map_err(write_err)?;
            continue;
        };
        let source_err = |source: io::Error| Error::LayerSource { path: entry.path.to_string(), source };
        let reader = open(source).map_err(source_err)?;
        let mut exact = ExactReader { inner: reader, left: *size, failure: None, progress: &mut *progress, done };
        let result = tar.append(entry, &mut exact);
        done = exact.done;
        if let Some(failure) = exact.failure {
            return Err(source_err(failure));
        }
        result.map_err(write_err)?;
        let mut extra = [0u8; 1];
        if check_growth && exact.inner.read(&mut extra).map_err(source_err)? != 0 {
            return Err(source_err(io::Error::other(format!(
                "its size changed while it was read: it was {size} bytes when listed and had more to read \
                 (a file whose size is not known in advance, as in /proc, or one being written: copy it first)"
            ))));
        }
    }
    Ok(())
}

/// Yields exactly `left` bytes of a source, recording (rather than only returning) a read
/// failure so it can be reported against the file and not against the sink.
struct ExactReader<'a, R> {
    inner: R,
    left: u64,
    failure: Option<io::Error>,
    progress: &'a mut dyn FnMut(u64),
    done: u64,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(0) => {
                let e = io::Error::other(format!(
                    "its size changed while it was read: it ended {} bytes short of the size it had when listed \
                     (is it being written?)",
                    self.left
                ));
                self.failure = Some(io::Error::new(e.kind(), e.to_string()));
                return Err(e);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                self.failure = Some(io::Error::new(e.kind(), e.to_string()));
                return Err(e);
            }
        };
        self.left -= n as u64;
        self.done += n as u64;
        (self.progress)(self.done);
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
