//! Where the bytes of a blob come from when it is pushed or written into an archive: a local
//! file (a layer just built), memory (a config), another registry, or a member of an archive
//! (checked against its digest and diffID as it streams), as it is or gzipped on the way.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use layerize_core::archive::{ArchivedBlob, BlobCheck};
use layerize_registry::{BlobSource, Error};
use tokio::io::AsyncReadExt;

pub type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, Error>>>>;

/// Bytes read at a time from a file.
const CHUNK: usize = 1 << 20;

/// One blob's bytes, opened only when they are needed.
#[derive(Clone, Debug)]
pub enum Blob {
    /// A local file (the layer just built).
    File(PathBuf),
    /// A plain layer of an archive, gzipped on the fast profile as it streams (see
    /// [`crate::gzip_stream`]); the plain bytes are checked against their diffID first.
    Gzip(ArchiveBlob),
}

impl BlobSource for Blob {
    type Stream = Chunks;

    async fn open(self) -> Result<Chunks, Error> {
        match self {
            Blob::File(path) => file_chunks(path).await,
            Blob::Gzip(blob) => Ok(crate::gzip_stream::gzip_fast(blob.checked())),
        }
    }
}

async fn file_chunks(path: PathBuf) -> Result<Chunks, Error> {
    let file = tokio::fs::File::open(&path).await.map_err(Error::Source)?;
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(Error::Source(e)), file)),
        }
    });
    Ok(Box::pin(stream))
}

/// A blob stored in an archive file, read by offset (several can be open on one file).
#[derive(Clone, Debug)]
pub struct ArchiveBlob {
    pub file: Arc<File>,
    pub blob: ArchivedBlob,
}

impl ArchiveBlob {
    /// The member's bytes in chunks, each checked on the way; a blob that is not what its
    /// descriptor says ends in an error instead of its end, so an upload is never committed.
    pub fn chunks(self) -> Chunks {
        // Positional reads of a local file: quick enough to make in place, as tokio's file
        // reads would on a blocking thread anyway.
        Box::pin(futures_util::stream::iter(self.checked()))
    }

    /// [`ArchiveBlob::chunks`] as a blocking iterator, for a thread that works on the bytes.
    pub fn checked(self) -> CheckedChunks {
        let check = BlobCheck::new(self.blob.expected());
        CheckedChunks { blob: self, done: 0, check: Some(check) }
    }

    /// Reads the whole member through its check, without sending it anywhere (for a blob the
    /// registry already has: the archive must still be what it claims).
    pub fn verify(&self) -> Result<(), Error> {
        self.clone().checked().try_for_each(|chunk| chunk.map(drop))
    }
}

/// The bytes of an archive member in chunks, each read by offset and put through the member's
/// [`BlobCheck`]; an error (a read failure, a mismatch, found at the latest after the last
/// byte) is the last item, so the bytes never end as if they were good.
#[derive(Debug)]
pub struct CheckedChunks {
    blob: ArchiveBlob,
    done: u64,
    /// None once the end or an error was reported.
    check: Option<BlobCheck>,
}

impl Iterator for CheckedChunks {
    type Item = Result<Bytes, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let member = &self.blob.blob.member;
        if self.done == member.size {
            return self.check.take()?.finish().err().map(|e| Err(Error::Core(e)));
        }
        let check = self.check.as_mut()?;
        let n = (member.size - self.done).min(CHUNK as u64) as usize;
        let mut buf = vec![0u8; n];
        let read = self.blob.file.read_exact_at(&mut buf, member.offset + self.done).map_err(|e| member.read_error(e));
        match read.and_then(|()| check.update(&buf)) {
            Ok(()) => {
                self.done += n as u64;
                Some(Ok(Bytes::from(buf)))
            }
            Err(e) => {
                self.check = None;
                Some(Err(Error::Core(e)))
            }
        }
    }
}
