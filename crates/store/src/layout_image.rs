//! An OCI layout as a source and a sink of [`copy`](layerize_registry::copy): the store and
//! every `oci:DIR` meet registries in the same copy.

use std::fs::File;
use std::io::Read;

use bytes::Bytes;
use layerize_core::descriptor::Descriptor;
use layerize_core::digest::HeldBack;
use layerize_core::Digest;
use layerize_registry::copy::{Document, ImageSink, ImageSource};
use layerize_registry::{BlobOutcome, BodyStream, Error as RegistryError, FetchedManifest};

use futures_util::StreamExt;

use crate::blob_thread::BlobThread;
use crate::error::Error;
use crate::layout::Layout;

/// Bytes read from a blob file at a time.
const CHUNK: usize = 1 << 20;

impl From<Error> for RegistryError {
    fn from(e: Error) -> RegistryError {
        RegistryError::Local(Box::new(e))
    }
}

impl ImageSource for Layout {
    fn describe(&self) -> String {
        format!("oci:{}", self.root().display())
    }

    async fn manifest(&self, selector: &str) -> Result<FetchedManifest, RegistryError> {
        let (digest, content_type) = match selector.parse::<Digest>() {
            Ok(digest) => (digest, None),
            Err(_) => {
                let descriptor = self
                    .find(selector)?
                    .ok_or_else(|| Error::UnknownName { layout: self.root().to_owned(), name: selector.to_owned() })?;
                (descriptor.digest, Some(descriptor.media_type.as_str().to_owned()))
            }
        };
        let raw = self.read_blob(&digest, layerize_registry::MAX_DOCUMENT_SIZE as u64)?;
        Ok(FetchedManifest { raw, content_type, digest })
    }

    async fn blob(&self, descriptor: &Descriptor) -> Result<BodyStream, RegistryError> {
        let file = self.open_blob(&descriptor.digest)?;
        let chunks = FileChunks {
            file,
            path: self.blob_path(&descriptor.digest),
            check: HeldBack::new(descriptor.digest.clone()),
        };
        Ok(Box::pin(futures_util::stream::iter(chunks)))
    }
}

/// A blob file in chunks, checked against its digest: the last chunk is held back until the
/// whole file hashes right, so a damaged blob ends in an error, never as if it were good.
struct FileChunks {
    file: File,
    path: std::path::PathBuf,
    check: HeldBack<Bytes>,
}

impl Iterator for FileChunks {
    type Item = Result<Bytes, RegistryError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.check.ended() {
                return None;
            }
            let mut buf = vec![0u8; CHUNK];
            match self.file.read(&mut buf) {
                Ok(0) => {
                    return match self.check.finish() {
                        Ok(last) => last.map(Ok),
                        Err(found) => Some(Err(Error::Damaged {
                            path: self.path.clone(),
                            problem: format!("holds bytes with digest {found}"),
                        }
                        .into())),
                    }
                }
                Ok(n) => {
                    buf.truncate(n);
                    if let Some(previous) = self.check.push(Bytes::from(buf)) {
                        return Some(Ok(previous));
                    }
                }
                Err(e) => {
                    let _ = self.check.finish();
                    return Some(Err(Error::io("reading", &self.path)(e).into()));
                }
            }
        }
    }
}

impl ImageSink for Layout {
    async fn put_blob<S: ImageSource>(
        &self,
        descriptor: &Descriptor,
        source: &S,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BlobOutcome, RegistryError> {
        if self.has_blob(&descriptor.digest, descriptor.size) {
            return Ok(BlobOutcome::AlreadyThere);
        }
        // What an interrupted run wrote is kept and continued, not fetched again.
        let mut writer = self.partial_writer(&descriptor.digest)?;
        if writer.size() > descriptor.size {
            writer = self.blob_writer(&descriptor.digest)?;
        }
        let offset = writer.size();
        // Unchecked bytes: the writer hashes everything it holds and commits only a match.
        let mut stream = source.blob_from(descriptor, offset).await?;
        let path = self.blob_path(&descriptor.digest);
        // Hashed and written on a thread of its own, so this task only receives.
        let mut thread = BlobThread::start(writer)?;
        let mut size = offset;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            // A source that sends more than the descriptor says is lying: stop before the disk fills.
            if size + chunk.len() as u64 > descriptor.size {
                drop(thread);
                let _ = std::fs::remove_file(self.partial_path(&descriptor.digest));
                return Err(Error::Damaged {
                    path,
                    problem: format!(
                        "would be longer than the {} bytes its descriptor gives (from {})",
                        descriptor.size,
                        source.describe()
                    ),
                }
                .into());
            }
            size += chunk.len() as u64;
            thread.write(chunk).await?;
            progress(size);
        }
        thread.commit().await?;
        Ok(BlobOutcome::Uploaded)
    }

    async fn put_manifest(&self, document: &Document) -> Result<(), RegistryError> {
        self.put_blob(&document.raw)?;
        Ok(())
    }

    async fn put_top(&self, document: &Document, tag: Option<&str>) -> Result<(), RegistryError> {
        self.put_blob(&document.raw)?;
        match tag {
            Some(tag) => self.tag(tag, &document.descriptor)?,
            None => self.add_unnamed(&document.descriptor)?,
        }
        Ok(())
    }
}
