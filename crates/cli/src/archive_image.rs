//! Archives (`docker save` tars, OCI layouts in a tar; gzipped or not) as a source of
//! [`copy`](layerize_registry::copy), beside registries and OCI layouts. (Writing one is the
//! registry crate's `ArchiveSink` into an [`OutputFile`](crate::archive_out::OutputFile).)

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Result};
use layerize_core::archive::{ArchivedBlob, Found};
use layerize_core::descriptor::Descriptor;
use layerize_core::{Digest, Platform, Reference};
use layerize_registry::copy::ImageSource;
use layerize_registry::{BodyStream, Error, FetchedManifest};

use crate::archive_file::ArchiveFile;

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
