//! Opening what a destination [`ImageArg`] names as one [`ImageSink`]: a registry repository,
//! an OCI layout (the store, `oci:DIR`) or an archive, so `copy` writes every one the same way.

use std::path::Path;

use anyhow::{bail, Result};
use layerize_core::descriptor::Descriptor;
use layerize_registry::copy::{Document, ImageSink, ImageSource, Repository};
use layerize_registry::transport::native::Native;
use layerize_registry::{BlobOutcome, Error};
use layerize_store::layout::Layout;

use layerize_registry::archive_sink::ArchiveSink;

use crate::archive_out::OutputFile;

/// Any sink a command writes images to.
#[derive(Debug)]
pub enum Sink<'a> {
    Layout(Layout),
    Registry(Repository<'a, Native>),
    Archive(ArchiveSink<OutputFile>),
}

impl Sink<'_> {
    /// An archive to write at `path`; one that exists is replaced only when `force` is given.
    pub fn archive(path: &Path, force: bool) -> Result<Sink<'static>> {
        if path.exists() && !force {
            bail!("{} exists; give --force to replace it", path.display());
        }
        Ok(Sink::Archive(ArchiveSink::new(OutputFile::create(path)?)?))
    }

    /// Finishes what needs finishing (an archive is renamed into place).
    pub async fn finish(self) -> Result<()> {
        match self {
            Sink::Archive(archive) => {
                let (file, size) = archive.finish().await;
                size?;
                file.persist()
            }
            Sink::Layout(_) | Sink::Registry(_) => Ok(()),
        }
    }
}

impl ImageSink for Sink<'_> {
    async fn put_blob<S: ImageSource>(
        &self,
        descriptor: &Descriptor,
        source: &S,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BlobOutcome, Error> {
        match self {
            Sink::Layout(l) => ImageSink::put_blob(l, descriptor, source, progress).await,
            Sink::Registry(r) => r.put_blob(descriptor, source, progress).await,
            Sink::Archive(a) => a.put_blob(descriptor, source, progress).await,
        }
    }

    async fn put_manifest(&self, document: &Document) -> Result<(), Error> {
        match self {
            Sink::Layout(l) => l.put_manifest(document).await,
            Sink::Registry(r) => r.put_manifest(document).await,
            Sink::Archive(a) => a.put_manifest(document).await,
        }
    }

    async fn put_top(&self, document: &Document, tag: Option<&str>) -> Result<(), Error> {
        match self {
            Sink::Layout(l) => l.put_top(document, tag).await,
            Sink::Registry(r) => r.put_top(document, tag).await,
            Sink::Archive(a) => a.put_top(document, tag).await,
        }
    }
}
