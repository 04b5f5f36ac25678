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
/// bytes read so far. A loop that reads each source into a [`LayerEncoder`].
pub fn write_layer<S, R, W, D>(
    entries: &[Entry<S>],
    options: &LayerOptions,
    mut open: impl FnMut(&S) -> io::Result<R>,
    deflate: D,
    sink: W,
    progress: &mut dyn FnMut(u64),
) -> Result<(LayerDigests, W), Error>
where
    R: Read,
    W: Write,
    D: Deflate,
{
    let mut encoder = LayerEncoder::new(options, deflate, sink)?;
    let open = |source: &S| open(source).map(Forward);
    feed_entries(&mut encoder.entries, entries, open, progress, &|_| Cut::Read(u64::MAX), true)?;
    encoder.finish()
}

/// A layer built from bytes handed to it, in the sans-IO style: [`LayerEncoder::add`] each
/// entry in the order [`Plan::into_entries`] gives, and after a file, its content in pieces
/// as it arrives ([`LayerEncoder::content`]). A caller that reads asynchronously (the page's
/// worker reads the dropped files ahead through the browser) never blocks in here, and the
/// bytes are those of [`write_layer`] however the content is cut.
pub struct LayerEncoder<W: Write, D: Deflate> {
    entries: EntryFeed<HashingWriter<GzipWriter<HashingWriter<W>, D>>>,
}

impl<W: Write, D: Deflate> std::fmt::Debug for LayerEncoder<W, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerEncoder").field("open", &self.entries.open).finish_non_exhaustive()
    }
}

impl<W: Write, D: Deflate> LayerEncoder<W, D> {
    /// Starts the layer (the gzip header goes to `sink` at once).
    pub fn new(options: &LayerOptions, deflate: D, sink: W) -> Result<Self, Error> {
        let blob = HashingWriter::new(sink);
        let gzip = GzipWriter::with_profile(blob, deflate, options.gzip).map_err(write_err)?;
        Ok(LayerEncoder { entries: EntryFeed::new(TarWriter::new(HashingWriter::new(gzip), options.mtime)) })
    }

    /// The next entry; a regular file's content (its planned size, no more, no less) follows.
    pub fn add<S>(&mut self, entry: &Entry<S>) -> Result<(), Error> {
        self.entries.add(entry)
    }

    /// More content of the file added last.
    pub fn content(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.entries.content(bytes)
    }

    /// Ends the layer: the digests, and the sink with every byte of the blob written.
    pub fn finish(self) -> Result<(LayerDigests, W), Error> {
        let (diff_id, tar_size, gzip) = self.entries.finish()?.0.finish();
        let (digest, size, sink) = gzip.finish().map_err(write_err)?.finish();
        Ok((LayerDigests { diff_id, digest, size, tar_size }, sink))
    }
}

fn write_err(source: io::Error) -> Error {
    Error::LayerWrite { source }
}

/// Entries into a tar writer, holding each file to the size the plan gave it: the part of a
/// layer build that is the same for the whole layer and for a share of it.
struct EntryFeed<W: Write> {
    tar: TarWriter<W>,
    /// The file added last, while content is still due: its path (for errors), size and the
    /// bytes still to come.
    open: Option<(String, u64, u64)>,
}

impl<W: Write> EntryFeed<W> {
    fn new(tar: TarWriter<W>) -> Self {
        EntryFeed { tar, open: None }
    }

    fn add<S>(&mut self, entry: &Entry<S>) -> Result<(), Error> {
        self.close()?;
        self.tar.begin(entry).map_err(write_err)?;
        if let EntryKind::File { size, .. } = &entry.kind {
            self.open = Some((entry.path.to_string(), *size, *size));
        }
        Ok(())
    }

    fn content(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let Some((path, size, left)) = &mut self.open else {
            return Err(write_err(io::Error::other("file content given where no file is open")));
        };
        if bytes.len() as u64 > *left {
            return Err(Error::LayerSource {
                path: path.clone(),
                source: io::Error::other(format!(
                    "its size changed while it was read: it was {size} bytes when listed and had more to read \
                     (a file whose size is not known in advance, as in /proc, or one being written: copy it first)"
                )),
            });
        }
        *left -= bytes.len() as u64;
        self.tar.content(bytes).map_err(write_err)
    }

    /// `n` bytes of the open file's content that this build does not need: zeros in their place.
    fn skip(&mut self, n: u64) -> Result<(), Error> {
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        let mut left = n;
        while left > 0 {
            let k = left.min(ZEROS.len() as u64) as usize;
            self.content(&ZEROS[..k])?;
            left -= k as u64;
        }
        Ok(())
    }

    /// Ends the open file, which must have had all of its content.
    fn close(&mut self) -> Result<(), Error> {
        match self.open.take() {
            None => Ok(()),
            Some((_, size, 0)) => self.tar.end(size).map_err(write_err),
            Some((path, _, left)) => Err(Error::LayerSource {
                path,
                source: io::Error::other(format!(
                    "its size changed while it was read: it ended {left} bytes short of the size it had when listed \
                     (is it being written?)"
                )),
            }),
        }
    }

    /// Ends the tar: its writer and its size.
    fn finish(mut self) -> Result<(W, u64), Error> {
        self.close()?;
        self.tar.into_inner().map_err(write_err)
    }
}

/// Bytes read from a source at a time.
const READ_SIZE: usize = 64 << 10;

/// What to do with the content that lands at a tar offset: read up to so many bytes, or skip
/// so many (a share that does not deflate the block they land in).
pub(crate) enum Cut {
    Read(u64),
    Skip(u64),
}

/// A file's bytes as a layer build reads them: content it skips is passed over, not read.
pub(crate) trait Source: Read {
    fn skip(&mut self, n: u64) -> io::Result<()>;
}

/// A source that can only be read forward (skipping is never asked of it).
struct Forward<R>(R);

impl<R: Read> Read for Forward<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Source for Forward<R> {
    fn skip(&mut self, n: u64) -> io::Result<()> {
        io::copy(&mut (&mut self.0).take(n), &mut io::sink()).map(drop)
    }
}

/// Reads every entry's source into `feed`; `cut` says what to do with the content landing
/// at each tar offset. Only a build that reads every byte (`check_growth`) can notice a file
/// that grew.
fn feed_entries<S, R: Source, W: Write>(
    feed: &mut EntryFeed<W>,
    entries: &[Entry<S>],
    mut open: impl FnMut(&S) -> io::Result<R>,
    progress: &mut dyn FnMut(u64),
    cut: &dyn Fn(u64) -> Cut,
    check_growth: bool,
) -> Result<(), Error> {
    let mut buf = vec![0u8; READ_SIZE];
    let mut done = 0u64;
    for entry in entries {
        feed.add(entry)?;
        let EntryKind::File { size, source, .. } = &entry.kind else { continue };
        let source_err = |source: io::Error| Error::LayerSource { path: entry.path.to_string(), source };
        let mut reader = open(source).map_err(source_err)?;
        let mut left = *size;
        while left > 0 {
            let n = match cut(feed.tar.position()) {
                Cut::Skip(n) => {
                    let n = n.min(left);
                    reader.skip(n).map_err(source_err)?;
                    feed.skip(n)?;
                    n
                }
                Cut::Read(n) => {
                    let want = buf.len().min(n.min(left).min(usize::MAX as u64) as usize);
                    let n = match reader.read(&mut buf[..want]) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(source_err(e)),
                    };
                    feed.content(&buf[..n])?;
                    n as u64
                }
            };
            left -= n;
            done += n;
            progress(done);
        }
        if check_growth && left == 0 && reader.read(&mut buf[..1]).map_err(source_err)? != 0 {
            feed.content(&buf[..1])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// Feeds `blob` to an inflater (gzip or zstd) in chunks of `chunk` bytes, into a 1000-byte
/// output buffer, as the push decoder does: what the inflaters' tests share.
#[cfg(test)]
pub(crate) fn inflate_in_chunks<I>(
    mut inflater: I,
    blob: &[u8],
    chunk: usize,
    inflate: fn(&mut I, &[u8], &mut Vec<u8>) -> io::Result<usize>,
    finish: fn(&I, usize) -> io::Result<()>,
) -> io::Result<Vec<u8>> {
    let (mut pending, mut got, mut out) = (Vec::new(), Vec::new(), Vec::with_capacity(1000));
    for part in blob.chunks(chunk) {
        pending.extend_from_slice(part);
        loop {
            let used = inflate(&mut inflater, &pending, &mut out)?;
            pending.drain(..used);
            if out.is_empty() && used == 0 {
                break;
            }
            got.append(&mut out);
        }
    }
    finish(&inflater, pending.len())?;
    Ok(got)
}
