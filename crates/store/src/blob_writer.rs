//! One blob being written into a layout: hashed as it goes, renamed into place only if it is
//! what it claims.
//!
//! [`BlobFile`] is the file half (a temp file or a partial download, made durable and renamed
//! by [`BlobFile::land`]); [`BlobWriter`] adds the hash and the digest it must match.

use std::fs::{self, File};
use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use layerize_core::digest::Hasher;
use layerize_core::Digest;

use crate::error::Error;

/// Bytes written to a blob's file after which their writeback to disk is started, while the
/// rest still arrives. Left to the commit's `fdatasync`, a 150 MB layer's writeback took
/// 90 ms after the last byte came in; started as it goes, only the last few MiB are left.
const WRITEBACK_STEP: u64 = 8 << 20;

/// Slices one `writev` takes at most (Linux's `UIO_MAXIOV`; more is an error, not a short write).
const MAX_SLICES: usize = 1024;

/// Where a blob's bytes go until they are checked.
#[derive(Debug)]
pub(crate) struct BlobFile {
    file: File,
    /// Where the bytes are until they land.
    path: PathBuf,
    /// Set for a private temp file (removed if dropped before it lands); a partial download
    /// stays, for the next run to continue.
    temp: Option<tempfile::TempPath>,
    /// Bytes in the file (for a continued download, those of earlier runs too).
    len: u64,
    /// Bytes of the file whose writeback to disk has been started.
    written_back: u64,
    /// The blob's name in the layout.
    dest: PathBuf,
}

impl BlobFile {
    /// `file` (at `path`, `len` bytes in already), to land at `dest`; `temp` removes it if it
    /// never does.
    pub(crate) fn new(
        file: File,
        path: PathBuf,
        temp: Option<tempfile::TempPath>,
        len: u64,
        dest: PathBuf,
    ) -> BlobFile {
        BlobFile { file, path, temp, len, written_back: len, dest }
    }

    fn dest(&self) -> &Path {
        &self.dest
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.wrote(bytes.len());
        Ok(())
    }

    /// Writes all of `chunks`, as many at a time as one system call takes, and empties it.
    fn write_chunks(&mut self, chunks: &mut Vec<Bytes>) -> io::Result<()> {
        let mut first = 0;
        while first < chunks.len() {
            let slices: Vec<IoSlice<'_>> = chunks[first..].iter().take(MAX_SLICES).map(|c| IoSlice::new(c)).collect();
            let mut n = match self.file.write_vectored(&slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.wrote(n);
            while n > 0 {
                let chunk = &mut chunks[first];
                if n >= chunk.len() {
                    n -= chunk.len();
                    first += 1;
                } else {
                    let _ = chunk.split_to(n);
                    n = 0;
                }
            }
        }
        chunks.clear();
        Ok(())
    }

    fn wrote(&mut self, n: usize) {
        self.len += n as u64;
        if self.len >= self.written_back + WRITEBACK_STEP {
            start_writeback(&self.file, self.written_back, self.len - self.written_back);
            self.written_back = self.len;
        }
    }

    /// Makes the bytes durable and renames them into place: for bytes already checked.
    fn land(mut self) -> Result<(), Error> {
        readable(&self.file).map_err(Error::io("writing", &self.dest))?;
        self.file.sync_data().map_err(Error::io("writing", &self.dest))?;
        fs::rename(&self.path, &self.dest).map_err(Error::io("renaming a blob to", &self.dest))?;
        if let Some(temp) = self.temp.take() {
            // Renamed away already: nothing for the guard to remove.
            let _ = temp.keep();
        }
        Ok(())
    }

    /// Removes bytes that are not what they claim (a partial download too: continuing it
    /// could never come right).
    fn discard(self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A blob being written: hashed as it goes, renamed into place only if it is what it claims.
#[derive(Debug)]
pub struct BlobWriter {
    file: BlobFile,
    hasher: Hasher,
    expected: Digest,
}

impl BlobWriter {
    /// Writes through `file`; `hasher` has seen what the file holds already.
    pub(crate) fn new(file: BlobFile, hasher: Hasher, expected: Digest) -> BlobWriter {
        BlobWriter { file, hasher, expected }
    }

    /// Bytes written so far (for a continued download, those of earlier runs included).
    pub fn size(&self) -> u64 {
        self.hasher.len()
    }

    /// Hashes and writes all of `chunks` (a download's, as they came), and empties it.
    pub(crate) fn write_chunks(&mut self, chunks: &mut Vec<Bytes>) -> io::Result<()> {
        for chunk in chunks.iter() {
            self.hasher.update(chunk);
        }
        self.file.write_chunks(chunks)
    }

    /// The blob's name in the layout (errors name it).
    pub(crate) fn dest(&self) -> &Path {
        self.file.dest()
    }

    /// Checks the digest and renames the blob into place; a mismatch leaves nothing behind.
    pub fn commit(self) -> Result<(), Error> {
        let BlobWriter { file, hasher, expected } = self;
        let found = hasher.finish();
        if found != expected {
            file.discard();
            return Err(Error::DigestMismatch { blob: expected, found });
        }
        file.land()
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write_all(buf)?;
        self.hasher.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Starts writing `len` bytes of `file` from `offset` to disk, without waiting for it.
///
/// `posix_fadvise(DONTNEED)` is what does so without unsafe code (`sync_file_range` has no
/// safe binding): Linux starts writeback of the range's dirty pages, then drops only the
/// clean ones, and pages just sent to disk are not clean yet, so the blob stays cached for an
/// `unpack` that follows. Advice that fails costs only speed: [`BlobFile::land`]'s
/// `fdatasync` is what makes the blob durable.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn start_writeback(file: &File, offset: u64, len: u64) {
    let _ = rustix::fs::fadvise(file, offset, std::num::NonZeroU64::new(len), rustix::fs::Advice::DontNeed);
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

/// Mode 0644, as any layout's files are: temp files are made 0600, and a store shared by a
/// group (or read by a tool running as another user) must be able to read what it names.
pub(crate) fn readable(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o644))
}
