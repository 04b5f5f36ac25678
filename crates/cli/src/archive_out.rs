//! An archive being written to disk: a temporary file beside the destination, renamed into
//! place only once every blob was written and checked, so a failure never leaves a partial
//! archive behind (the temporary file goes when this is dropped).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use futures_util::StreamExt;
use layerize_core::archive::ArchiveWriter;
use layerize_core::config::Config;
use layerize_core::descriptor::Descriptor;
use layerize_core::manifest::ImageManifest;
use layerize_core::Reference;
use layerize_registry::{BlobSource, BodyStream};
use tempfile::NamedTempFile;

use crate::blob_source::Blob;

/// The archive under construction.
#[derive(Debug)]
pub struct OutputArchive {
    dest: PathBuf,
    temp: NamedTempFile,
    writer: ArchiveWriter<BufWriter<File>>,
}

impl OutputArchive {
    pub fn create(dest: &Path) -> Result<OutputArchive> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let temp = crate::scratch::create_in(&dir).with_context(|| format!("cannot write {}", dest.display()))?;
        let sink = BufWriter::with_capacity(1 << 20, temp.as_file().try_clone()?);
        let writer = ArchiveWriter::new(sink)?;
        Ok(OutputArchive { dest: dest.to_owned(), temp, writer })
    }

    /// Whether the archive holds the blob already.
    pub fn has_blob(&self, digest: &layerize_core::Digest) -> bool {
        self.writer.has_blob(digest)
    }

    /// Writes the blob `descriptor` names from `source`, unless the archive has it already.
    pub async fn add_blob(&mut self, descriptor: &Descriptor, source: Blob) -> Result<bool> {
        if self.writer.has_blob(&descriptor.digest) {
            return Ok(false);
        }
        self.add_stream(descriptor, source.open().await?).await
    }

    /// Writes the blob `descriptor` names from `stream`, unless the archive has it already.
    pub async fn add_stream(&mut self, descriptor: &Descriptor, mut stream: BodyStream) -> Result<bool> {
        if self.writer.has_blob(&descriptor.digest) {
            return Ok(false);
        }
        let mut blob = self.writer.start_blob(descriptor)?;
        while let Some(chunk) = stream.next().await {
            blob.write_all(&chunk?).with_context(|| format!("writing blob {}", descriptor.digest))?;
        }
        blob.finish()?;
        Ok(true)
    }

    /// Lists an image whose blobs are all written, under `names`.
    pub fn add_image(&mut self, manifest: &ImageManifest, config: &Config, names: &[Reference]) -> Result<()> {
        Ok(self.writer.add_image(manifest, config, names)?)
    }

    /// Finishes the archive and moves it to its destination (mode 0644, like any output).
    pub fn persist(self) -> Result<()> {
        let OutputArchive { dest, temp, writer } = self;
        let file = writer.finish()?.into_inner().map_err(|e| e.into_error()).context("writing the archive")?;
        file.sync_all().context("writing the archive")?;
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644))?;
        temp.persist(&dest).with_context(|| format!("cannot write {}", dest.display()))?;
        Ok(())
    }
}
