//! Everything the page asks of registries, through the server's proxy: loading a base image
//! and pushing the result. The protocol itself is the registry crate's.

use bytes::Bytes;
use futures_util::stream;
use layerize_core::config::Config;
use layerize_core::config::ConfigChanges;
use layerize_core::descriptor::Descriptor;
use layerize_core::manifest::{ImageManifest, Index, Manifest};
use layerize_core::mutate::{self, Appended, NewLayer};
use layerize_core::{Digest, Reference};
use layerize_registry::copy::{self, CopyEvent, ImageSource, Overlay, Platforms, Repository};
use layerize_registry::transport::browser::Browser;
use layerize_registry::transport::proxy::{Proxy, Vouching};
use layerize_registry::{BlobSource, BodyStream, Client, Credentials, Error, FetchedManifest, Scheme};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;

use super::archive_base::ArchiveBase;
use super::Error as PageError;

/// Credentials the user typed for one registry; kept in page memory only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Login {
    pub registry: String,
    pub username: String,
    pub secret: String,
}

impl Login {
    fn credentials_for(&self, reference: &Reference) -> Option<Credentials> {
        if self.secret.is_empty() || self.registry.trim() != reference.registry() {
            return None;
        }
        Some(if self.username.is_empty() {
            Credentials::Bearer { token: self.secret.clone() }
        } else {
            Credentials::Basic { username: self.username.clone(), password: self.secret.clone() }
        })
    }
}

/// The logins the user typed, one per registry (a base and a target can each need one).
#[derive(Clone, Debug, PartialEq)]
pub struct Logins(pub Vec<Login>);

impl Default for Logins {
    /// One empty row to fill in.
    fn default() -> Logins {
        Logins(vec![Login::default()])
    }
}

impl Logins {
    /// The credentials for `reference`'s registry: the first login for it that has a secret.
    pub fn credentials_for(&self, reference: &Reference) -> Option<Credentials> {
        self.0.iter().find_map(|l| l.credentials_for(reference))
    }
}

/// The transport through the proxy on this page's origin: the server that served the page,
/// whose word on a blob's digest counts (see [`Proxy::PageOwn`]).
fn proxy() -> Result<Browser, PageError> {
    let reading = "reading the page's address";
    let origin = web_sys::window()
        .ok_or(PageError::Internal("no window"))?
        .location()
        .origin()
        .map_err(|e| PageError::browser(reading, &e))?;
    let origin = url::Url::parse(&origin)
        .map_err(|e| PageError::Browser { doing: reading.to_owned(), reason: e.to_string() })?;
    Ok(Browser::new(Proxy::PageOwn(origin)))
}

/// A client for the registry of `reference`, through the proxy on this page's origin.
pub fn client(reference: &Reference, logins: &Logins) -> Result<Client<Browser>, PageError> {
    let client = Client::new(
        proxy()?,
        reference.api_host(),
        Scheme::for_reference(reference, false),
        logins.credentials_for(reference),
    )?;
    Ok(client)
}

/// One image of a base: its manifest and config.
#[derive(Clone, Debug)]
pub struct BaseImage {
    pub manifest: ImageManifest,
    pub config: Config,
}

pub async fn resolve(reference: &Reference, logins: &Logins) -> Result<Manifest, PageError> {
    Ok(client(reference, logins)?.resolve(reference).await?)
}

pub async fn image(
    reference: &Reference,
    logins: &Logins,
    manifest: Option<ImageManifest>,
    digest: &Digest,
) -> Result<BaseImage, PageError> {
    let c = client(reference, logins)?;
    let manifest = match manifest {
        Some(m) => m,
        None => c.image_manifest(reference.repository(), digest).await?,
    };
    let config = c.config(reference.repository(), &manifest).await?;
    Ok(BaseImage { manifest, config })
}

/// Every image of a base index with the new layer on it: what "all platforms" pushes, as
/// `layerize append --all-platforms` does (attestations left out of the appending; the new
/// index drops those about replaced images).
#[derive(Clone, Debug)]
pub struct AllPlatforms {
    pub index: Index,
    /// Each image of the index and what the append made of it, in index order.
    pub images: Vec<(ImageManifest, Appended)>,
    /// The digest the new index will have.
    pub index_digest: Digest,
}

/// Appends `layer` (built once: files are the same on every platform) to every image of
/// `index`, rewriting each config and manifest.
pub async fn append_all(
    reference: &Reference,
    logins: &Logins,
    index: &Index,
    layer: &NewLayer,
    changes: &ConfigChanges,
) -> Result<AllPlatforms, PageError> {
    let c = client(reference, logins)?;
    let repository = reference.repository();
    let mut images = Vec::new();
    for entry in index.manifests.iter().filter(|d| !d.is_attestation()) {
        let manifest = c.image_manifest(repository, &entry.digest).await?;
        let config = c.config(repository, &manifest).await?;
        let appended = mutate::append(&manifest, &config, std::slice::from_ref(layer), changes)
            .map_err(|source| PageError::Append { digest: entry.digest.clone(), source })?;
        images.push((manifest, appended));
    }
    if images.is_empty() {
        return Err(PageError::EmptyIndex(reference.clone()));
    }
    let replaced: Vec<_> = images.iter().map(|(m, a)| (m.digest().clone(), a.manifest_descriptor.clone())).collect();
    let (_, descriptor) = mutate::replace_in_index(index, &replaced)?;
    Ok(AllPlatforms { index: index.clone(), images, index_digest: descriptor.digest })
}

/// Where the layer worker fetches blob `digest` itself, through the proxy: the proxied URL,
/// the Authorization header (kept in page and worker memory only), and whether the proxy's
/// check of the download is believed.
pub async fn blob_access(
    reference: &Reference,
    logins: &Logins,
    digest: &Digest,
) -> Result<(String, Option<String>, Vouching), PageError> {
    let access = client(reference, logins)?.blob_access(reference.repository(), digest).await?;
    let proxy = proxy()?;
    Ok((proxy.proxied(&access.url), access.authorization, proxy.vouching()))
}

/// What a push sends: the base, what the append made of it, where it goes, and where the
/// bytes of the new layer (and of the base's layers, for a base from a tar) are.
#[derive(Debug)]
pub struct PushJob<'a> {
    pub base: &'a Reference,
    /// The base's manifest, as loaded (the appended one lists its layers).
    pub base_image: &'a ImageManifest,
    pub appended: &'a Appended,
    pub target: &'a Reference,
    pub blob: Blob,
    pub logins: &'a Logins,
    pub archive: Option<&'a ArchiveBase>,
    /// Every platform of the base index, when all are pushed (then a new index is tagged).
    pub all: Option<&'a AllPlatforms>,
}

/// Where the base's blobs come from for a push or a save: its repository (mounted or
/// streamed across by the copy), or the tar it was dropped in.
#[derive(Debug)]
pub enum BaseBlobs<'a> {
    Registry(Repository<'a, Browser>),
    Tar(&'a ArchiveBase),
}

impl<'a> BaseBlobs<'a> {
    /// The dropped tar when there is one, else `base`'s repository through `client`.
    pub fn new(
        archive: Option<&'a ArchiveBase>,
        client: Option<&'a Client<Browser>>,
        base: &Reference,
    ) -> Result<BaseBlobs<'a>, PageError> {
        match (archive, client) {
            (Some(tar), _) => Ok(BaseBlobs::Tar(tar)),
            (None, Some(client)) => Ok(BaseBlobs::Registry(Repository { client, name: base.repository().to_owned() })),
            (None, None) => Err(PageError::Internal("no client for the base's registry")),
        }
    }
}

impl ImageSource for BaseBlobs<'_> {
    fn describe(&self) -> String {
        match self {
            BaseBlobs::Registry(r) => r.describe(),
            BaseBlobs::Tar(a) => a.name.clone(),
        }
    }

    async fn manifest(&self, selector: &str) -> Result<FetchedManifest, Error> {
        match self {
            BaseBlobs::Registry(r) => r.manifest(selector).await,
            // The pushed documents are the append's own (the copy's overlay holds them).
            BaseBlobs::Tar(a) => {
                Err(Error::NotFound { registry: a.name.clone(), what: selector.to_owned(), detail: None })
            }
        }
    }

    async fn blob(&self, descriptor: &Descriptor) -> Result<BodyStream, Error> {
        match self {
            BaseBlobs::Registry(r) => r.blob(descriptor).await,
            BaseBlobs::Tar(a) => {
                let layer =
                    a.layer(&descriptor.digest).map_err(|e| Error::Source(std::io::Error::other(e.to_string())))?;
                WebBlob(layer).open().await
            }
        }
    }

    fn repository_on(&self, registry: &str) -> Option<&str> {
        match self {
            BaseBlobs::Registry(r) => r.repository_on(registry),
            BaseBlobs::Tar(_) => None,
        }
    }
}

/// Pushes the appended image to `job.target` through the one copy: the base's layers (skipped,
/// mounted within one registry, else streamed across; from the tar for a dropped base), the new
/// layer, each config, each manifest, then the tagged manifest, or with `all` the new index.
pub async fn push(job: PushJob<'_>, on: &mut dyn FnMut(CopyEvent)) -> Result<Digest, PageError> {
    let PushJob { base, base_image: _, appended, target, blob, logins, archive, all } = job;
    let dest = client(target, logins)?;
    let base_client = match archive {
        Some(_) => None,
        None => Some(client(base, logins)?),
    };
    let base_blobs = BaseBlobs::new(archive, base_client.as_ref(), base)?;
    let mut overlay = Overlay::new(&base_blobs);
    let images: Vec<(Option<&ImageManifest>, &Appended)> = match all {
        Some(all) => all.images.iter().map(|(base, appended)| (Some(base), appended)).collect(),
        None => vec![(None, appended)],
    };
    let mut replaced = Vec::new();
    let mut top = None;
    for (base, appended) in images {
        overlay.add_document(appended.config.clone(), appended.config_descriptor.media_type.clone());
        let d = overlay.add_document(appended.manifest.clone(), appended.manifest_descriptor.media_type.clone());
        if let Some(base) = base {
            replaced.push((base.digest().clone(), d.clone()));
        }
        top.get_or_insert(d);
    }
    if let Some(layer) = appended.layers.first() {
        overlay.add_blob(layer.digest.clone(), WebBlob(blob));
    }
    let top = match all {
        Some(all) => {
            let (bytes, descriptor) = mutate::replace_in_index(&all.index, &replaced)?;
            overlay.add_document(bytes, descriptor.media_type)
        }
        None => top.ok_or(PageError::Internal("nothing was appended"))?,
    };
    let plan = copy::plan(&overlay, top.digest.as_str(), &Platforms::All).await?;
    let sink = Repository { client: &dest, name: target.repository().to_owned() };
    let tag = target.tag().unwrap_or("latest");
    Ok(copy::copy(&overlay, &sink, &plan, Some(tag), PUSH_JOBS, on).await?)
}

/// Blobs pushed at a time from the page (each one request through the proxy).
const PUSH_JOBS: usize = 3;

/// A browser Blob (the layer the worker built), read 4 MiB at a time.
#[derive(Clone, Debug)]
pub struct WebBlob(pub Blob);

impl BlobSource for WebBlob {
    type Stream = BodyStream;

    async fn open(self) -> Result<BodyStream, Error> {
        let size = self.0.size();
        let step = layerize_registry::CHUNK_SIZE as f64;
        Ok(Box::pin(stream::unfold((self.0, 0.0f64), move |(blob, pos)| async move {
            if pos >= size {
                return None;
            }
            let end = (pos + step).min(size);
            let read = async {
                let slice = blob.slice_with_f64_and_f64(pos, end).map_err(js_error)?;
                let buffer = JsFuture::from(slice.array_buffer()).await.map_err(js_error)?;
                let array = js_sys::Uint8Array::new(buffer.unchecked_ref());
                Ok(Bytes::from(array.to_vec()))
            };
            Some((read.await, (blob, end)))
        })))
    }
}

fn js_error(e: wasm_bindgen::JsValue) -> Error {
    Error::Source(std::io::Error::other(format!("reading the built layer failed: {}", crate::js_error::js_text(&e))))
}
