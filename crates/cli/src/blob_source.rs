//! The bytes of a layer built into a local file, as a blob source for a push.

use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use layerize_registry::{BlobSource, Error};
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
