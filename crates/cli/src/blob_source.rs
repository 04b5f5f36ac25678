//! Where the bytes of a blob come from when it is pushed or written into an archive: a local
//! file (a layer just built), memory (a config), another registry, or a member of an archive
//! (checked against its digest and diffID as it streams).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use layerize_core::archive::{ArchivedBlob, BlobCheck};
use layerize_core::Digest;
use layerize_registry::transport::native::Native;
use layerize_registry::{BlobSource, Client, Error};
use tokio::io::AsyncReadExt;

pub type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, Error>>>>;

/// Bytes read at a time from a file.
const CHUNK: usize = 1 << 20;

/// One blob's bytes, opened only when they are needed.
#[derive(Debug)]
pub enum Blob<'a> {
    /// A local file (the layer just built).
    File(PathBuf),
    /// Bytes in memory (a config).
    Memory(Bytes),
    /// A blob in a registry repository, streamed through and checked against its digest.
    Remote { client: &'a Client<Native>, repository: &'a str, digest: Digest },
    /// A member of an archive.
    Archive(ArchiveBlob),
}

impl BlobSource for Blob<'_> {
    type Stream = Chunks;

    async fn open(self) -> Result<Chunks, Error> {
        match self {
            Blob::File(path) => file_chunks(path).await,
            Blob::Memory(bytes) => Ok(Box::pin(futures_util::stream::iter([Ok(bytes)]))),
            Blob::Remote { client, repository, digest } => client.blob(repository, &digest).await,
            Blob::Archive(blob) => Ok(blob.chunks()),
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
        let check = BlobCheck::new(self.blob.expected());
        let state = (self, 0u64, Some(check));
        let stream = futures_util::stream::unfold(state, |(blob, done, check)| async move {
            let mut check = check?;
            let member = &blob.blob.member;
            if done == member.size {
                return match check.finish() {
                    Ok(()) => None,
                    Err(e) => Some((Err(Error::Core(e)), (blob, done, None))),
                };
            }
            let n = (member.size - done).min(CHUNK as u64) as usize;
            let mut buf = vec![0u8; n];
            let read = blob.file.read_exact_at(&mut buf, member.offset + done).map_err(|e| Error::Core(member.read_error(e)));
            match read.and_then(|()| check.update(&buf).map_err(Error::Core)) {
                Ok(()) => Some((Ok(Bytes::from(buf)), (blob, done + n as u64, Some(check)))),
                Err(e) => Some((Err(e), (blob, done, None))),
            }
        });
        Box::pin(stream)
    }

    /// Reads the whole member through its check, without sending it anywhere (for a blob the
    /// registry already has: the archive must still be what it claims).
    pub fn verify(&self) -> Result<(), layerize_core::Error> {
        let member = &self.blob.member;
        let mut check = BlobCheck::new(self.blob.expected());
        let mut buf = vec![0u8; CHUNK];
        let mut done = 0u64;
        while done < member.size {
            let n = (member.size - done).min(CHUNK as u64) as usize;
            self.file.read_exact_at(&mut buf[..n], member.offset + done).map_err(|e| member.read_error(e))?;
            check.update(&buf[..n])?;
            done += n as u64;
        }
        check.finish()
    }
}
