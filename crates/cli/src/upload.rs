//! Putting blobs and then manifests into a repository, for images whose blobs come from an
//! archive (or several places at once). Every blob is in place before the first manifest, so
//! a blob that fails its check leaves no tag behind; and a blob the registry already has is
//! still read from the archive and checked, so a damaged archive never passes.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use layerize_core::descriptor::Descriptor;
use layerize_core::{Digest, MediaType};
use layerize_registry::transport::native::Native;
use layerize_registry::{BlobOutcome, Client};

use crate::blob_source::Blob;
use crate::progress::Progress;

/// A repository to push to.
#[derive(Debug)]
pub struct Destination<'a> {
    pub client: &'a Client<Native>,
    pub repository: String,
    /// A repository of the same registry that already holds the blobs (mount from it).
    pub mount_from: Option<String>,
}

/// A manifest to put: under its digest (an index's entries) or a tag.
#[derive(Debug)]
pub struct ManifestPut<'a> {
    pub bytes: &'a [u8],
    pub media_type: &'a MediaType,
    pub reference: String,
}

/// Makes sure the repository has every blob. `checked` holds the archive blobs already read
/// and found good (by an earlier upload or check), so each is read at most once.
pub async fn push_blobs(dest: &Destination<'_>, blobs: Vec<(Descriptor, Blob<'_>)>, checked: &mut BTreeSet<Digest>, progress: Progress) -> Result<()> {
    for (descriptor, source) in blobs {
        let digest = &descriptor.digest;
        let from_archive = match &source {
            Blob::Archive(blob) => Some(blob.clone()),
            _ => None,
        };
        let outcome = dest
            .client
            .push_blob(&dest.repository, digest, dest.mount_from.as_deref(), source, &mut |_| {})
            .await
            .with_context(|| format!("pushing blob {digest} to {}", dest.repository))?;
        let what = match outcome {
            BlobOutcome::AlreadyThere => "already there",
            BlobOutcome::Mounted => "mounted",
            BlobOutcome::Uploaded => "uploaded",
        };
        progress.step(format!("blob {digest}: {what}"));
        if let Some(blob) = from_archive {
            if outcome != BlobOutcome::Uploaded && !checked.contains(digest) {
                blob.verify()?;
            }
            checked.insert(digest.clone());
        }
    }
    Ok(())
}

/// Puts the manifests in order; returns the digest of the last.
pub async fn put_manifests(dest: &Destination<'_>, manifests: &[ManifestPut<'_>], progress: Progress) -> Result<Option<Digest>> {
    let mut last = None;
    for m in manifests {
        let digest = dest.client.put_manifest(&dest.repository, &m.reference, m.bytes, m.media_type).await?;
        let separator = if m.reference.starts_with("sha256:") { '@' } else { ':' };
        progress.step(format!("manifest {digest}: pushed as {}{separator}{}", dest.repository, m.reference));
        last = Some(digest);
    }
    Ok(last)
}
