//! Where blob bytes for a push come from: a local file, bytes in memory, or another
//! registry (streamed through, never stored).

use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use layerize_core::Digest;
use layerize_registry::transport::Transport;
use layerize_registry::{BlobSource, Client, Error};
use tokio::io::AsyncReadExt;

pub type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, Error>>>>;

/// A blob in a local file (the layer just built).
#[derive(Debug)]
pub struct FileBlob(pub PathBuf);

impl BlobSource for FileBlob {
    type Stream = Chunks;

    async fn open(self) -> Result<Chunks, Error> {
        let file = tokio::fs::File::open(&self.0).await.map_err(Error::Source)?;
        let stream = futures_util::stream::unfold(file, |mut file| async move {
            let mut buf = vec![0u8; 1 << 20];
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
}

/// A blob held in memory (a config).
#[derive(Debug)]
pub struct MemoryBlob(pub Bytes);

impl BlobSource for MemoryBlob {
    type Stream = Chunks;

    async fn open(self) -> Result<Chunks, Error> {
        Ok(Box::pin(futures_util::stream::iter([Ok(self.0)])))
    }
}

/// A blob in another repository, possibly on another registry, streamed through.
pub struct RemoteBlob<'a, T: Transport> {
    pub client: &'a Client<T>,
    pub repository: String,
    pub digest: Digest,
}

impl<T: Transport> BlobSource for RemoteBlob<'_, T> {
    type Stream = Chunks;

    async fn open(self) -> Result<Chunks, Error> {
        Ok(self.client.blob(&self.repository, &self.digest).await?.boxed_local())
    }
}
