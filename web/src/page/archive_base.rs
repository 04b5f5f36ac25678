//! A base image from an image tar the person opened: the worker found its image (see
//! `worker::open_archive`), and the page takes each base layer as a slice of the file, never
//! reading it whole. A gzipped tar was gunzipped into a Blob first, and the slices are of
//! that.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use layerize_core::Digest;
use web_sys::Blob;

use super::Error;
use crate::protocol::open_archive::LayerSpan;

/// The opened tar, held by the page while it is the base.
#[derive(Clone, Debug)]
pub struct ArchiveBase {
    /// The file's name, for messages and the equivalent CLI command.
    pub name: String,
    /// The plain tar: the file, or what the worker gunzipped it to.
    pub tar: Blob,
    pub layers: Vec<LayerSpan>,
    urls: Arc<ObjectUrls>,
}

/// Object URLs of layer slices, made once per layer and revoked when the last clone of the
/// base is dropped (another base opened, a registry image loaded, and the workers reading
/// from it done).
#[derive(Debug, Default)]
struct ObjectUrls(Mutex<BTreeMap<String, String>>);

impl Drop for ObjectUrls {
    fn drop(&mut self) {
        for url in self.0.lock().map(|urls| urls.values().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            let _ = web_sys::Url::revoke_object_url(&url);
        }
    }
}

impl ArchiveBase {
    pub fn new(name: String, tar: Blob, layers: Vec<LayerSpan>) -> ArchiveBase {
        ArchiveBase { name, tar, layers, urls: Arc::default() }
    }

    /// An object URL of layer `digest`'s slice, for a worker to fetch (the browser answers it,
    /// Range requests included, like a server; the slice is not copied).
    pub fn layer_url(&self, digest: &Digest) -> Result<String, Error> {
        let mut urls =
            self.urls.0.lock().map_err(|_| Error::Internal("the layer URLs are unusable after a failure"))?;
        if let Some(url) = urls.get(digest.as_str()) {
            return Ok(url.clone());
        }
        let url = web_sys::Url::create_object_url_with_blob(&self.layer(digest)?)
            .map_err(|e| Error::browser(format!("reading layer {digest} of {}", self.name), &e))?;
        urls.insert(digest.to_string(), url.clone());
        Ok(url)
    }

    /// The bytes of the base layer `digest`: a slice of the file (checked against the digest
    /// by whatever writes it: the archive writer, the registry).
    pub fn layer(&self, digest: &Digest) -> Result<Blob, Error> {
        let span = self
            .layers
            .iter()
            .find(|l| l.digest == *digest)
            .ok_or_else(|| Error::NoSuchLayer { archive: self.name.clone(), digest: digest.clone() })?;
        self.tar
            .slice_with_f64_and_f64(span.offset as f64, (span.offset + span.size) as f64)
            .map_err(|e| Error::browser(format!("reading layer {digest} of {}", self.name), &e))
    }
}
