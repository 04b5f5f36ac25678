//! One copy for every pairing of image source and sink.
//!
//! An image is what go-containerregistry's `v1.Image` is: raw manifest bytes, and blobs opened
//! lazily by descriptor; an index is raw bytes over such images. Nothing is re-serialised, so
//! every digest survives a copy. A [`Plan`] is read from an [`ImageSource`] (a registry, an
//! OCI layout, the local store) once, and [`copy`] then drives any [`ImageSink`] (a registry, a
//! layout) in the one order that never leaves a name pointing at something incomplete: every
//! layer, then every config, then the image manifests under an index, then the top document,
//! which alone gets the tag.

use std::cell::RefCell;
use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::{stream, StreamExt, TryStreamExt};
use layerize_core::descriptor::Descriptor;
use layerize_core::manifest::Manifest;
use layerize_core::{Digest, MediaType, Platform};

use crate::error::Error;
use crate::pull::FetchedManifest;
use crate::push::{BlobOutcome, BlobSource};
use crate::transport::{BodyStream, Transport};
use crate::Client;

/// Configs and manifests are read whole; none is anywhere near this.
const DOCUMENT_LIMIT: usize = crate::MAX_DOCUMENT_SIZE;

/// Where images are read from.
pub trait ImageSource {
    /// Names the source in messages (`127.0.0.1:5000/app`, `oci:/tmp/layout`).
    fn describe(&self) -> String;
    /// A manifest or index by tag, name or digest, as stored. By digest, it must hash to it.
    fn manifest(&self, selector: &str) -> impl std::future::Future<Output = Result<FetchedManifest, Error>>;
    /// A blob's bytes, checked against the descriptor's digest: a stream that does not hash
    /// to it ends in an error instead of its end.
    fn blob(&self, descriptor: &Descriptor) -> impl std::future::Future<Output = Result<BodyStream, Error>>;
    /// A blob's bytes from `offset` on (0: all of them), for a sink that hashes the whole itself
    /// and continues what an earlier run left. May be unchecked: the caller must check.
    fn blob_from(
        &self,
        descriptor: &Descriptor,
        offset: u64,
    ) -> impl std::future::Future<Output = Result<BodyStream, Error>> {
        async move { Ok(skip(self.blob(descriptor).await?, offset)) }
    }
    /// The repository of `registry` that holds these blobs, if this is a repository there
    /// (a sink on the same registry mounts instead of uploading).
    fn repository_on(&self, _registry: &str) -> Option<&str> {
        None
    }
    /// Called for a blob the sink already had (or mounted), so it was not read from here. A
    /// source nobody has checked (an archive from elsewhere) reads it anyway and fails if it is
    /// not what it claims, so a damaged source never passes for a good one.
    fn check_unread(&self, _descriptor: &Descriptor) -> impl std::future::Future<Output = Result<(), Error>> {
        std::future::ready(Ok(()))
    }
}

/// Where images are written to.
pub trait ImageSink {
    /// Makes sure the sink has the blob, reading it from `source` only if it must.
    fn put_blob<S: ImageSource>(
        &self,
        descriptor: &Descriptor,
        source: &S,
        progress: &mut dyn FnMut(u64),
    ) -> impl std::future::Future<Output = Result<BlobOutcome, Error>>;
    /// Stores a manifest under an index (by its digest only).
    fn put_manifest(&self, document: &Document) -> impl std::future::Future<Output = Result<(), Error>>;
    /// Stores what the copy was for (the image, or the index) under `tag` if given, else as the
    /// sink keeps an untagged image (by digest; an unnamed entry of an OCI layout).
    fn put_top(&self, document: &Document, tag: Option<&str>) -> impl std::future::Future<Output = Result<(), Error>>;
}

/// A manifest or index: its raw bytes and the descriptor that points at them.
#[derive(Clone, Debug)]
pub struct Document {
    pub descriptor: Descriptor,
    pub raw: Bytes,
}

impl Document {
    fn from_fetched(fetched: FetchedManifest, what: &str) -> Result<(Document, Manifest), Error> {
        let manifest = Manifest::parse(what, fetched.raw.clone(), fetched.content_type.as_deref())?;
        let media_type = match &manifest {
            Manifest::Image(m) => m.media_type().clone(),
            Manifest::Index(i) => i.media_type().clone(),
        };
        let descriptor = Descriptor::new(media_type, fetched.digest, fetched.raw.len() as u64);
        Ok((Document { descriptor, raw: Bytes::from(fetched.raw) }, manifest))
    }
}

/// Which images of an index to take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Platforms {
    /// The index's entry for this platform (a single image must be for it when `strict`).
    One { platform: Platform, strict: bool },
    /// The index itself and every manifest it lists (attestations too), so its digest holds.
    All,
}

/// What a copy moves, read from the source once.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Tagged at the sink: an image manifest, or the index when copying all platforms.
    pub top: Document,
    /// Image manifests under the index (empty for a single image).
    pub children: Vec<Document>,
    /// Every layer of every image, without repeats, lowest first.
    pub layers: Vec<Descriptor>,
    /// Every config, without repeats.
    pub configs: Vec<Descriptor>,
}

impl Plan {
    /// Bytes of all blobs (what a copy to an empty sink moves, besides manifests).
    pub fn blob_bytes(&self) -> u64 {
        self.layers.iter().chain(&self.configs).map(|d| d.size).sum()
    }
}

/// Reads what `selector` names at `source` and the manifests under it.
pub async fn plan<S: ImageSource>(source: &S, selector: &str, platforms: &Platforms) -> Result<Plan, Error> {
    let what = format!("{}:{selector}", source.describe());
    let (top, manifest) = Document::from_fetched(source.manifest(selector).await?, &what)?;
    let mut plan = Plan { top, children: Vec::new(), layers: Vec::new(), configs: Vec::new() };
    match (manifest, platforms) {
        (Manifest::Image(image), Platforms::One { platform, strict: true }) => {
            let config = read_whole(source, &image.config).await?;
            let have = layerize_core::config::Config::parse(&what, config)?.platform();
            if !platform.matches(&have) {
                return Err(Error::Protocol {
                    registry: source.describe(),
                    message: format!("{what} is a single-platform image for {have}, not {platform}"),
                });
            }
            plan.add_image(&image);
        }
        (Manifest::Image(image), _) => plan.add_image(&image),
        (Manifest::Index(index), Platforms::One { platform, .. }) => {
            let entry = platform.select(&index.manifests)?;
            let fetched = source.manifest(entry.digest.as_str()).await?;
            let (document, manifest) = Document::from_fetched(fetched, &format!("{what} ({platform})"))?;
            let Manifest::Image(image) = manifest else {
                return Err(nested(source, &what));
            };
            plan.top = document;
            plan.add_image(&image);
        }
        (Manifest::Index(index), Platforms::All) => {
            for entry in &index.manifests {
                let fetched = source.manifest(entry.digest.as_str()).await?;
                let (mut document, manifest) = Document::from_fetched(fetched, &format!("{what}@{}", entry.digest))?;
                let Manifest::Image(image) = manifest else {
                    return Err(nested(source, &what));
                };
                document.descriptor = entry.clone();
                plan.add_image(&image);
                plan.children.push(document);
            }
        }
    }
    Ok(plan)
}

fn nested<S: ImageSource>(source: &S, what: &str) -> Error {
    Error::Protocol {
        registry: source.describe(),
        message: format!("{what} has an index inside an index, which is not supported"),
    }
}

impl Plan {
    fn add_image(&mut self, image: &layerize_core::manifest::ImageManifest) {
        // Foreign layers (with `urls`) are not the registry's to hand out; they travel by reference.
        for layer in image.layers.iter().filter(|l| l.urls.is_empty()) {
            if !self.layers.iter().any(|l| l.digest == layer.digest) {
                self.layers.push(layer.clone());
            }
        }
        if !self.configs.iter().any(|c| c.digest == image.config.digest) {
            self.configs.push(image.config.clone());
        }
    }
}

/// Progress of a copy, for bars and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyEvent {
    /// A blob transfer started (only for blobs that move).
    Started { digest: Digest, total: u64 },
    /// Bytes of a blob moved so far.
    Moved { digest: Digest, done: u64, total: u64 },
    /// A blob is in place.
    Blob { digest: Digest, size: u64, outcome: BlobOutcome },
    /// A manifest or index is in place.
    Manifest { digest: Digest, tag: Option<String> },
}

/// Copies what `plan` holds from `source` to `sink`, `jobs` blobs at a time, and tags the top
/// document `tag`: [`put_blobs`] (layers, then configs), then [`put_documents`]. Returns the
/// top document's digest.
pub async fn copy<S: ImageSource, K: ImageSink>(
    source: &S,
    sink: &K,
    plan: &Plan,
    tag: Option<&str>,
    jobs: usize,
    on: &mut dyn FnMut(CopyEvent),
) -> Result<Digest, Error> {
    put_blobs(source, sink, &plan.layers, jobs, on).await?;
    put_blobs(source, sink, &plan.configs, jobs, on).await?;
    put_documents(sink, plan, tag, on).await
}

/// Puts `blobs` into `sink`, `jobs` at a time: the first half of [`copy`], for callers that
/// put blobs of several plans (or a layer made while it uploads) before any manifest.
pub async fn put_blobs<S: ImageSource, K: ImageSink>(
    source: &S,
    sink: &K,
    blobs: &[Descriptor],
    jobs: usize,
    on: &mut dyn FnMut(CopyEvent),
) -> Result<(), Error> {
    let on = RefCell::new(on);
    stream::iter(blobs.iter().map(Ok))
        .try_for_each_concurrent(jobs.max(1), |descriptor| {
            let on = &on;
            async move {
                let digest = &descriptor.digest;
                let total = descriptor.size;
                let mut started = false;
                let mut progress = |done: u64| {
                    let mut on = on.borrow_mut();
                    if !started {
                        started = true;
                        (on)(CopyEvent::Started { digest: digest.clone(), total });
                    }
                    (on)(CopyEvent::Moved { digest: digest.clone(), done, total });
                };
                let outcome = sink.put_blob(descriptor, source, &mut progress).await?;
                if outcome != BlobOutcome::Uploaded {
                    source.check_unread(descriptor).await?;
                }
                (on.borrow_mut())(CopyEvent::Blob { digest: digest.clone(), size: total, outcome });
                Ok::<(), Error>(())
            }
        })
        .await
}

/// Puts the manifests under an index, then the top document under `tag`: the second half of
/// [`copy`]; every blob must be in place.
pub async fn put_documents<K: ImageSink>(
    sink: &K,
    plan: &Plan,
    tag: Option<&str>,
    on: &mut dyn FnMut(CopyEvent),
) -> Result<Digest, Error> {
    for child in &plan.children {
        sink.put_manifest(child).await?;
        on(CopyEvent::Manifest { digest: child.descriptor.digest.clone(), tag: None });
    }
    sink.put_top(&plan.top, tag).await?;
    on(CopyEvent::Manifest { digest: plan.top.descriptor.digest.clone(), tag: tag.map(str::to_owned) });
    Ok(plan.top.descriptor.digest.clone())
}

/// An image source made of another one plus documents and blobs made here: an image appended
/// to (its new layer, configs, manifests and index over a base), or an archive's image whose
/// manifest had to be built. What it does not hold, it reads from the base; a sink on the
/// base's registry still mounts the base's blobs.
#[derive(Debug)]
pub struct Overlay<'a, S, B> {
    base: &'a S,
    documents: BTreeMap<Digest, (Bytes, MediaType)>,
    blobs: BTreeMap<Digest, B>,
}

impl<'a, S: ImageSource, B: BlobSource<Stream = BodyStream> + Clone> Overlay<'a, S, B> {
    pub fn new(base: &'a S) -> Overlay<'a, S, B> {
        Overlay { base, documents: BTreeMap::new(), blobs: BTreeMap::new() }
    }

    /// Adds a document (a config, manifest or index) made here; returns its descriptor.
    pub fn add_document(&mut self, raw: impl Into<Bytes>, media_type: MediaType) -> Descriptor {
        let raw = raw.into();
        let descriptor = Descriptor::new(media_type.clone(), Digest::sha256(&raw), raw.len() as u64);
        self.documents.insert(descriptor.digest.clone(), (raw, media_type));
        descriptor
    }

    /// Adds a blob made here (a new layer), opened from `blob` when a sink needs its bytes.
    pub fn add_blob(&mut self, digest: Digest, blob: B) {
        self.blobs.insert(digest, blob);
    }
}

impl<S: ImageSource, B: BlobSource<Stream = BodyStream> + Clone> ImageSource for Overlay<'_, S, B> {
    fn describe(&self) -> String {
        self.base.describe()
    }

    async fn manifest(&self, selector: &str) -> Result<FetchedManifest, Error> {
        if let Some((digest, (raw, media_type))) =
            selector.parse::<Digest>().ok().and_then(|d| self.documents.get_key_value(&d))
        {
            return Ok(FetchedManifest {
                raw: raw.to_vec(),
                content_type: Some(media_type.as_str().to_owned()),
                digest: digest.clone(),
            });
        }
        self.base.manifest(selector).await
    }

    async fn blob(&self, descriptor: &Descriptor) -> Result<BodyStream, Error> {
        if let Some((raw, _)) = self.documents.get(&descriptor.digest) {
            return Ok(Box::pin(stream::iter([Ok(raw.clone())])));
        }
        if let Some(blob) = self.blobs.get(&descriptor.digest) {
            return blob.clone().open().await;
        }
        self.base.blob(descriptor).await
    }

    async fn blob_from(&self, descriptor: &Descriptor, offset: u64) -> Result<BodyStream, Error> {
        if self.documents.contains_key(&descriptor.digest) || self.blobs.contains_key(&descriptor.digest) {
            return Ok(skip(self.blob(descriptor).await?, offset));
        }
        self.base.blob_from(descriptor, offset).await
    }

    fn repository_on(&self, registry: &str) -> Option<&str> {
        self.base.repository_on(registry)
    }

    async fn check_unread(&self, descriptor: &Descriptor) -> Result<(), Error> {
        // What was made here was checked as it was made.
        if self.documents.contains_key(&descriptor.digest) || self.blobs.contains_key(&descriptor.digest) {
            return Ok(());
        }
        self.base.check_unread(descriptor).await
    }
}

/// A small blob (a config) from `source`, whole and checked.
pub async fn read_whole<S: ImageSource>(source: &S, descriptor: &Descriptor) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    let mut blob = source.blob(descriptor).await?;
    while let Some(chunk) = blob.next().await {
        bytes.extend_from_slice(&chunk?);
        if bytes.len() > DOCUMENT_LIMIT {
            return Err(Error::TooLarge {
                registry: source.describe(),
                what: format!("blob {}", descriptor.digest),
                limit: DOCUMENT_LIMIT,
            });
        }
    }
    Ok(bytes)
}

/// A repository of a registry, as a source and as a sink.
#[derive(Debug)]
pub struct Repository<'a, T: Transport> {
    pub client: &'a Client<T>,
    pub name: String,
}

impl<T: Transport> ImageSource for Repository<'_, T> {
    fn describe(&self) -> String {
        format!("{}/{}", self.client.registry(), self.name)
    }

    async fn manifest(&self, selector: &str) -> Result<FetchedManifest, Error> {
        self.client.manifest(&self.name, selector).await
    }

    async fn blob(&self, descriptor: &Descriptor) -> Result<BodyStream, Error> {
        self.client.blob(&self.name, &descriptor.digest).await
    }

    async fn blob_from(&self, descriptor: &Descriptor, offset: u64) -> Result<BodyStream, Error> {
        self.client.blob_from(&self.name, &descriptor.digest, offset).await
    }

    fn repository_on(&self, registry: &str) -> Option<&str> {
        (self.client.registry() == registry).then_some(self.name.as_str())
    }
}

impl<T: Transport> ImageSink for Repository<'_, T> {
    async fn put_blob<S: ImageSource>(
        &self,
        descriptor: &Descriptor,
        source: &S,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BlobOutcome, Error> {
        let mount_from = source.repository_on(self.client.registry());
        let opener = Opener { source, descriptor };
        self.client.push_blob(&self.name, &descriptor.digest, mount_from, opener, progress).await
    }

    async fn put_manifest(&self, document: &Document) -> Result<(), Error> {
        self.put_top(document, None).await
    }

    async fn put_top(&self, document: &Document, tag: Option<&str>) -> Result<(), Error> {
        let d = &document.descriptor;
        let reference = tag.unwrap_or(d.digest.as_str());
        self.client.put_manifest(&self.name, reference, &document.raw, &d.media_type).await?;
        Ok(())
    }
}

/// A source's blob, opened only when the sink needs its bytes.
#[derive(Debug)]
pub struct Opener<'a, S> {
    pub source: &'a S,
    pub descriptor: &'a Descriptor,
}

impl<S: ImageSource> BlobSource for Opener<'_, S> {
    type Stream = BodyStream;

    async fn open(self) -> Result<BodyStream, Error> {
        self.source.blob(self.descriptor).await
    }

    /// The blob read again and the first `offset` bytes passed over (they were checked as
    /// part of the whole: the stream still ends in an error if the blob is not what it claims).
    async fn reopen(&self, offset: u64) -> Result<Option<BodyStream>, Error> {
        let stream = self.source.blob(self.descriptor).await?;
        Ok(Some(skip(stream, offset)))
    }
}

/// `stream` without its first `offset` bytes.
pub(crate) fn skip(stream: BodyStream, offset: u64) -> BodyStream {
    let mut left = offset;
    Box::pin(stream.filter_map(move |item| {
        let out = match item {
            Ok(mut chunk) if left > 0 => {
                let drop = left.min(chunk.len() as u64);
                left -= drop;
                chunk = chunk.slice(drop as usize..);
                (!chunk.is_empty()).then_some(Ok(chunk))
            }
            other => Some(other),
        };
        std::future::ready(out)
    }))
}
