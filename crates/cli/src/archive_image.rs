//! Archives (`docker save` tars, OCI layouts in a tar; gzipped or not) as a source and a sink
//! of [`copy`](layerize_registry::copy), beside registries and OCI layouts.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Result};
use futures_util::StreamExt;
use layerize_core::archive::{ArchivedBlob, Found};
use layerize_core::config::Config;
use layerize_core::descriptor::Descriptor;
use layerize_core::manifest::{ImageManifest, Manifest};
use layerize_core::{Digest, Platform, Reference};
use layerize_registry::copy::{Document, ImageSink, ImageSource};
use layerize_registry::{BlobOutcome, BodyStream, Error, FetchedManifest};
use tokio::sync::Mutex;

use crate::archive_file::ArchiveFile;
use crate::archive_out::OutputArchive;
use crate::blob_source::Blob;

/// An archive opened for reading, with the images it holds.
#[derive(Debug)]
pub struct ArchiveSource {
    shown: String,
    file: ArchiveFile,
    found: Vec<Found>,
    /// Blobs read through their checks already (uploaded, or verified when a sink had them).
    checked: RefCell<BTreeSet<Digest>>,
}

impl ArchiveSource {
    pub fn open(path: &Path, platform: &Platform, platform_given: bool) -> Result<ArchiveSource> {
        let file = ArchiveFile::open(path)?;
        let found = file.find(platform, platform_given)?;
        Ok(ArchiveSource { shown: path.display().to_string(), file, found, checked: RefCell::default() })
    }

    /// The images and indexes the archive holds.
    pub fn found(&self) -> &[Found] {
        &self.found
    }

    /// A blob of the archive, to read (checked) or gzip on the way.
    pub fn blob_source(&self, blob: &ArchivedBlob) -> crate::blob_source::ArchiveBlob {
        self.file.blob(blob)
    }

    /// Records that `digest`'s member was read through its check (by an upload made here).
    pub fn mark_checked(&self, digest: &Digest) {
        self.checked.borrow_mut().insert(digest.clone());
    }

    /// The selector of the image `name` names (the only one when `name` is `None`).
    pub fn selector(&self, name: Option<&str>) -> Result<String> {
        let wanted = name.map(|n| n.parse::<Reference>().map(|r| r.to_string()).unwrap_or_else(|_| n.to_owned()));
        let matching: Vec<&Found> = self
            .found
            .iter()
            .filter(|f| wanted.as_ref().is_none_or(|w| f.names.iter().any(|n| &n.to_string() == w)))
            .collect();
        match (matching.as_slice(), name) {
            ([one], _) => Ok(one.top().1.digest.to_string()),
            ([], Some(name)) => bail!("{} holds no image named {name}", self.shown),
            ([], None) => bail!("{} holds no image", self.shown),
            (_, _) => bail!("{} holds {} images: name one (docker-archive:FILE:NAME)", self.shown, matching.len()),
        }
    }

    fn blob_of(&self, digest: &Digest) -> Option<&ArchivedBlob> {
        self.found.iter().flat_map(Found::images).flat_map(|i| i.blobs()).find(|b| &b.descriptor.digest == digest)
    }

    fn raw_manifest(&self, digest: &Digest) -> Option<Vec<u8>> {
        self.found.iter().find_map(|found| {
            let (raw, top) = found.top();
            if &top.digest == digest {
                return Some(raw.to_vec());
            }
            found.images().iter().find(|i| i.manifest.digest() == digest).map(|i| i.manifest.raw().to_vec())
        })
    }
}

impl ImageSource for ArchiveSource {
    fn describe(&self) -> String {
        format!("archive {}", self.shown)
    }

    async fn manifest(&self, selector: &str) -> Result<FetchedManifest, Error> {
        let missing =
            || Error::NotFound { registry: self.describe(), what: format!("manifest {selector}"), detail: None };
        let digest: Digest = selector.parse().map_err(|_| missing())?;
        let raw = self.raw_manifest(&digest).ok_or_else(missing)?;
        Ok(FetchedManifest { raw, content_type: None, digest })
    }

    async fn blob(&self, descriptor: &Descriptor) -> Result<BodyStream, Error> {
        let blob = self.blob_of(&descriptor.digest).ok_or_else(|| Error::NotFound {
            registry: self.describe(),
            what: format!("blob {}", descriptor.digest),
            detail: None,
        })?;
        self.mark_checked(&descriptor.digest);
        Ok(self.file.blob(blob).chunks())
    }

    /// A blob the sink had is still read and checked: the archive must be what it claims.
    async fn check_unread(&self, descriptor: &Descriptor) -> Result<(), Error> {
        if self.checked.borrow().contains(&descriptor.digest) {
            return Ok(());
        }
        let Some(blob) = self.blob_of(&descriptor.digest) else { return Ok(()) };
        self.file.blob(blob).verify()?;
        self.mark_checked(&descriptor.digest);
        Ok(())
    }
}

/// Non-layer blobs up to this size (configs) are kept in memory while an archive is written.
const KEPT_DOCUMENT: u64 = 4 << 20;

/// An archive being written: blobs as they come (one at a time), then each image listed under
/// its name; [`ArchiveSink::persist`] renames it into place.
#[derive(Debug)]
pub struct ArchiveSink {
    out: Mutex<Option<OutputArchive>>,
    /// Configs seen, kept to list images (the archive's `manifest.json` names their platform).
    configs: std::sync::Mutex<Vec<(Digest, Vec<u8>)>>,
}

impl ArchiveSink {
    pub fn create(path: &Path) -> Result<ArchiveSink> {
        Ok(ArchiveSink { out: Mutex::new(Some(OutputArchive::create(path)?)), configs: Default::default() })
    }

    /// Finishes the archive and renames it into place.
    pub fn persist(self) -> Result<()> {
        match self.out.into_inner() {
            Some(out) => out.persist(),
            None => bail!("the archive was not written"),
        }
    }
}

fn local(e: anyhow::Error) -> Error {
    Error::Local(e.into())
}

impl ImageSink for ArchiveSink {
    async fn put_blob<S: ImageSource>(
        &self,
        descriptor: &Descriptor,
        source: &S,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BlobOutcome, Error> {
        let mut guard = self.out.lock().await;
        let Some(out) = guard.as_mut() else { return Err(local(anyhow::anyhow!("the archive was not written"))) };
        if out.has_blob(&descriptor.digest) {
            return Ok(BlobOutcome::AlreadyThere);
        }
        // Configs are kept to list their images; layers (and big artifact blobs) stream through.
        if !descriptor.media_type.is_layer() && descriptor.size <= KEPT_DOCUMENT {
            let raw = layerize_registry::copy::read_whole(source, descriptor).await?;
            out.add_blob(descriptor, Blob::Memory(raw.clone().into())).await.map_err(local)?;
            progress(raw.len() as u64);
            self.configs.lock().map_err(|_| local(anyhow::anyhow!("poisoned")))?.push((descriptor.digest.clone(), raw));
            return Ok(BlobOutcome::Uploaded);
        }
        // The bytes read so far, told whenever the source waits (the archive is written as
        // they come, so read is as good as written).
        let (read, mut seen) = tokio::sync::watch::channel(0u64);
        let mut count = 0u64;
        let stream: BodyStream = Box::pin(source.blob(descriptor).await?.inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                count += bytes.len() as u64;
                read.send_replace(count);
            }
        }));
        let writing = out.add_stream(descriptor, stream);
        tokio::pin!(writing);
        let written = loop {
            tokio::select! {
                written = &mut writing => break written.map_err(local)?,
                Ok(()) = seen.changed() => progress(*seen.borrow_and_update()),
            }
        };
        if written {
            progress(descriptor.size);
        }
        Ok(if written { BlobOutcome::Uploaded } else { BlobOutcome::AlreadyThere })
    }

    async fn put_manifest(&self, _document: &Document) -> Result<(), Error> {
        Err(local(anyhow::anyhow!("an archive holds single images, not indexes: choose one with --platform")))
    }

    async fn put_top(&self, document: &Document, tag: Option<&str>) -> Result<(), Error> {
        let what = document.descriptor.digest.to_string();
        let image: ImageManifest = match Manifest::parse(&what, document.raw.to_vec(), None)? {
            Manifest::Image(image) => image,
            Manifest::Index(_) => {
                return Err(local(anyhow::anyhow!(
                    "an archive holds single images, not indexes: choose one with --platform"
                )))
            }
        };
        let config = {
            let configs = self.configs.lock().map_err(|_| local(anyhow::anyhow!("poisoned")))?;
            let raw = configs.iter().find(|(d, _)| d == &image.config.digest).map(|(_, raw)| raw.clone());
            raw.ok_or_else(|| local(anyhow::anyhow!("the config of {what} was not written first")))?
        };
        let config = Config::parse(image.config.digest.as_str(), config)?;
        let names: Vec<Reference> = tag.and_then(|t| t.parse().ok()).into_iter().collect();
        let mut guard = self.out.lock().await;
        let Some(out) = guard.as_mut() else { return Err(local(anyhow::anyhow!("the archive was not written"))) };
        out.add_image(&image, &config, &names).map_err(local)
    }
}
