//! Pushing appended images: the order and the blob choices an append needs, written once for
//! the CLI and the page.
//!
//! Every blob first (base layers: skip if present, mount within one registry, else stream
//! across; the new layer; each config), then each image manifest, then the index. A failure
//! anywhere before the last step leaves no tag pointing at a half-pushed image. [`publish`]
//! does it all; the CLI, which uploads the new layer while building it, runs the base layers
//! ([`push_base_layers`]) beside that upload and then [`push_configs_and_manifests`].

use bytes::Bytes;
use layerize_core::descriptor::Descriptor;
use layerize_core::manifest::{ImageManifest, Index};
use layerize_core::mutate::{self, Appended};
use layerize_core::Digest;

use crate::client::Client;
use crate::error::Error;
use crate::push::{BlobOutcome, BlobSource};
use crate::transport::{BodyStream, Transport};

/// Progress of a publish, for bars and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishEvent {
    /// Bytes of a blob uploaded so far.
    Uploading { digest: Digest, done: u64, total: u64 },
    /// A blob is in place.
    Blob { digest: Digest, outcome: BlobOutcome },
    /// A manifest was put.
    Manifest { digest: Digest },
}

/// Where the base comes from and where the result goes.
#[derive(Debug)]
pub struct Route<'a, T: Transport> {
    pub source: &'a Client<T>,
    pub source_repository: &'a str,
    pub dest: &'a Client<T>,
    pub dest_repository: &'a str,
    /// Whether source and destination are the same registry (then blobs can be mounted).
    pub same_registry: bool,
}

/// One image to push: its base manifest and what the append made of it.
#[derive(Debug)]
pub struct Appendage<'a> {
    pub base: &'a ImageManifest,
    pub appended: &'a Appended,
}

/// Pushes `images` (built on the same new layer, whose bytes `layer` gives) and tags the
/// result `tag`: the single image, or, with `index`, a new index pointing at all of them.
/// Returns the digest the tag points at.
pub async fn publish<T: Transport, S: BlobSource>(
    route: &Route<'_, T>,
    images: &[Appendage<'_>],
    index: Option<&Index>,
    layer: S,
    tag: &str,
    on: &mut dyn FnMut(PublishEvent),
) -> Result<Digest, Error> {
    let first = first(route, images)?;
    let bases: Vec<&ImageManifest> = images.iter().map(|i| i.base).collect();
    push_base_layers(route, &bases, on).await?;
    if let Some(new) = first.appended.layers.first() {
        push_one(route, &new.digest, new.size, None, layer, on).await?;
    }
    push_configs_and_manifests(route, images, index, tag, on).await
}

/// The first step of [`publish`] on its own, for a caller that uploads the new layer at the
/// same time (built while it uploads, its digest known only at the end): the layers of
/// `bases`, each once, skipped if present, mounted within one registry, else streamed across.
pub async fn push_base_layers<T: Transport>(
    route: &Route<'_, T>,
    bases: &[&ImageManifest],
    on: &mut dyn FnMut(PublishEvent),
) -> Result<(), Error> {
    let mount_from = route.same_registry.then_some(route.source_repository);
    let mut done = Vec::<&Digest>::new();
    for layer in bases.iter().flat_map(|base| &base.layers).filter(|l| l.urls.is_empty()) {
        if done.contains(&&layer.digest) {
            continue;
        }
        let from = RemoteBlob { client: route.source, repository: route.source_repository, digest: &layer.digest };
        push_one(route, &layer.digest, layer.size, mount_from, from, on).await?;
        done.push(&layer.digest);
    }
    Ok(())
}

/// The last step of [`publish`]: each image's config, then each manifest, then the index
/// under `tag` (or the single manifest under it). Call it only once every layer is in place.
pub async fn push_configs_and_manifests<T: Transport>(
    route: &Route<'_, T>,
    images: &[Appendage<'_>],
    index: Option<&Index>,
    tag: &str,
    on: &mut dyn FnMut(PublishEvent),
) -> Result<Digest, Error> {
    let first = first(route, images)?;
    for image in images {
        let config = &image.appended.config_descriptor;
        let bytes = MemoryBlob(Bytes::from(image.appended.config.clone()));
        push_one(route, &config.digest, config.size, None, bytes, on).await?;
    }

    let Some(index) = index else {
        let d = &first.appended.manifest_descriptor;
        let digest =
            route.dest.put_manifest(route.dest_repository, tag, &first.appended.manifest, &d.media_type).await?;
        on(PublishEvent::Manifest { digest: digest.clone() });
        return Ok(digest);
    };
    let mut replaced: Vec<(Digest, Descriptor)> = Vec::new();
    for image in images {
        let d = &image.appended.manifest_descriptor;
        let digest = route
            .dest
            .put_manifest(route.dest_repository, d.digest.as_str(), &image.appended.manifest, &d.media_type)
            .await?;
        on(PublishEvent::Manifest { digest });
        replaced.push((image.base.digest().clone(), d.clone()));
    }
    let (bytes, descriptor) = mutate::replace_in_index(index, &replaced)?;
    let digest = route.dest.put_manifest(route.dest_repository, tag, &bytes, &descriptor.media_type).await?;
    on(PublishEvent::Manifest { digest: digest.clone() });
    Ok(digest)
}

fn first<'i, 'a, T: Transport>(route: &Route<'_, T>, images: &'i [Appendage<'a>]) -> Result<&'i Appendage<'a>, Error> {
    images.first().ok_or_else(|| Error::Protocol {
        registry: route.dest.registry().to_owned(),
        message: "nothing to push".into(),
    })
}

async fn push_one<T: Transport, S: BlobSource>(
    route: &Route<'_, T>,
    digest: &Digest,
    total: u64,
    mount_from: Option<&str>,
    source: S,
    on: &mut dyn FnMut(PublishEvent),
) -> Result<(), Error> {
    let outcome = {
        let mut progress = |done: u64| on(PublishEvent::Uploading { digest: digest.clone(), done, total });
        route.dest.push_blob(route.dest_repository, digest, mount_from, source, &mut progress).await?
    };
    on(PublishEvent::Blob { digest: digest.clone(), outcome });
    Ok(())
}

/// A blob held in memory (a config).
#[derive(Debug)]
pub struct MemoryBlob(pub Bytes);

impl BlobSource for MemoryBlob {
    type Stream = BodyStream;

    async fn open(self) -> Result<BodyStream, Error> {
        Ok(Box::pin(futures_util::stream::iter([Ok(self.0)])))
    }
}

/// A blob in another repository, possibly on another registry, streamed through.
struct RemoteBlob<'a, T: Transport> {
    client: &'a Client<T>,
    repository: &'a str,
    digest: &'a Digest,
}

impl<T: Transport> BlobSource for RemoteBlob<'_, T> {
    type Stream = BodyStream;

    async fn open(self) -> Result<BodyStream, Error> {
        self.client.blob(self.repository, self.digest).await
    }
}
