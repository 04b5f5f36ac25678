//! Putting blobs and then manifests into a repository, for images whose blobs come from an
//! archive (or several places at once). Every blob is in place before the first manifest, so
//! a blob that fails its check leaves no tag behind; and a blob the registry already has is
//! still read from the archive and checked, so a damaged archive never passes.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use layerize_core::descriptor::Descriptor;
use layerize_core::{Digest, MediaType};
use layerize_registry::transport::native::Native;
use layerize_registry::{BlobOutcome, Client};

use crate::blob_source::{ArchiveBlob, Blob};
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

/// A blob to put in place.
#[derive(Debug)]
pub enum Upload<'a> {
    /// A blob known by its descriptor.
    Blob(Descriptor, Blob<'a>),
    /// A plain layer of an archive, sent gzipped on the fast profile: its descriptor is known
    /// only once it is up (see [`Pushed::gzipped`]).
    Gzip(ArchiveBlob),
}

/// What a run has put or checked so far, across repositories.
#[derive(Debug, Default)]
pub struct Pushed {
    /// Archive blobs already read and found good (by an earlier upload or check), by the
    /// digest of the member, so each is read at most once when nothing needs its bytes.
    pub checked: BTreeSet<Digest>,
    /// The gzip layer each plain layer became, by the plain layer's digest (its diffID). The
    /// fast profile is deterministic, so a second repository gets the same blob: mounted or
    /// found when it can be, else gzipped again to the same bytes.
    pub gzipped: BTreeMap<Digest, Descriptor>,
}

/// Makes sure the repository has every blob.
pub async fn push_blobs(
    dest: &Destination<'_>,
    blobs: Vec<Upload<'_>>,
    pushed: &mut Pushed,
    progress: Progress,
) -> Result<()> {
    for upload in blobs {
        let (descriptor, source) = match upload {
            Upload::Blob(descriptor, source) => (descriptor, source),
            Upload::Gzip(blob) => match pushed.gzipped.get(&blob.blob.descriptor.digest) {
                Some(gzipped) => (gzipped.clone(), Blob::Gzip(blob)),
                None => {
                    upload_gzipped(dest, blob, pushed, progress).await?;
                    continue;
                }
            },
        };
        let digest = &descriptor.digest;
        let from_archive = match &source {
            Blob::Archive(blob) | Blob::Gzip(blob) => Some(blob.clone()),
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
            let member = &blob.blob.descriptor.digest;
            if outcome != BlobOutcome::Uploaded && !pushed.checked.contains(member) {
                blob.verify()?;
            }
            pushed.checked.insert(member.clone());
        }
    }
    Ok(())
}

/// Uploads a plain archive layer gzipped on the way and records the blob it became.
async fn upload_gzipped(
    dest: &Destination<'_>,
    blob: ArchiveBlob,
    pushed: &mut Pushed,
    progress: Progress,
) -> Result<()> {
    let plain = blob.blob.descriptor.clone();
    let (digest, size) = dest
        .client
        .upload_hashed_blob(&dest.repository, Blob::Gzip(blob), &mut |_| {})
        .await
        .with_context(|| format!("pushing layer {} to {}, gzipped on the way", plain.digest, dest.repository))?;
    let percent = size.saturating_mul(100) / plain.size.max(1);
    progress.step(format!("blob {digest}: uploaded (gzip of {}, {percent}% of {} bytes)", plain.digest, plain.size));
    pushed.checked.insert(plain.digest.clone());
    pushed.gzipped.insert(plain.digest, Descriptor::new(MediaType::DockerLayerGzip, digest, size));
    Ok(())
}

/// Puts the manifests in order; returns the digest of the last.
pub async fn put_manifests(
    dest: &Destination<'_>,
    manifests: &[ManifestPut<'_>],
    progress: Progress,
) -> Result<Option<Digest>> {
    let mut last = None;
    for m in manifests {
        let digest = dest.client.put_manifest(&dest.repository, &m.reference, m.bytes, m.media_type).await?;
        let separator = if m.reference.starts_with("sha256:") { '@' } else { ':' };
        progress.step(format!("manifest {digest}: pushed as {}{separator}{}", dest.repository, m.reference));
        last = Some(digest);
    }
    Ok(last)
}
