//! Pushing appended images: the order and the blob choices an append needs, written once for
//! the CLI and the page.
//!
//! Every blob first (base layers: skip if present, mount within one registry, else stream
//! across; the new layer; each config), then each image manifest, then the index. A failure
//! anywhere before the last step leaves no tag pointing at a half-pushed image.

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
    let Some(first) = images.first() else {
        return Err(Error::Protocol { registry: route.dest.registry().to_owned(), message: "nothing to push".into() });
    };
    let mount_from = route.same_registry.then_some(route.source_repository);
    let mut done_base = Vec::<Digest>::new();
    for image in images {
        for layer in image.base.layers.iter().filter(|l| l.urls.is_empty()) {
            if done_base.contains(&layer.digest) {
                continue;
            }
            let from = RemoteBlob { client: route.source, repository: route.source_repository, digest: &layer.digest };
            push_one(route, &layer.digest, layer.size, mount_from, from, on).await?;
            done_base.push(layer.digest.clone());
        }
    }
    let new_layers = &first.appended.layers;
    if let Some(new) = new_layers.first() {
        push_one(route, &new.digest, new.size, None, layer, on).await?;
    }
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
