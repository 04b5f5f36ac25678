//! A base image from an image tar the person opened (`docker save`, `podman save`, skopeo,
//! `layerize save`): the worker reads it with the core's archive reader (member offsets from
//! one pass over the headers, manifest and config checked against their digests), and the
//! page then takes each base layer as a slice of the file, never reading it whole. A gzipped
//! tar is gunzipped into a Blob first, and the slices are of that.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::sync::{Arc, Mutex};

use layerize_core::archive::{find_images, single_image, Members};
use layerize_core::{Digest, Platform};
use serde::{Deserialize, Serialize};
use web_sys::Blob;

/// What the worker found in the tar, as it travels to the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchiveImage {
    /// The image manifest's bytes (the archive's own, or one the core built over a
    /// `manifest.json`-only image).
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    /// Where each layer's bytes lie in the tar, in manifest order.
    pub layers: Vec<LayerSpan>,
    /// The names the tar gives the image (`127.0.0.1:5000/app:1`).
    pub names: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSpan {
    pub digest: String,
    pub offset: u64,
    pub size: u64,
}

/// Reads the one image of a plain tar (for an index, linux/amd64's, else its first); errors
/// are about the tar, for the caller to name it. Runs in the worker, where a `File` can be
/// read synchronously (a gzipped tar is gunzipped into a Blob there first).
pub fn read_image<R: Read + Seek>(mut reader: R) -> Result<ArchiveImage, String> {
    let fail = |e: layerize_core::Error| e.to_string();
    let members = Members::scan(&mut reader).map_err(fail)?;
    let platform = Platform::new("linux", "amd64", None);
    let found = find_images(&members, &mut reader, &platform, false).map_err(fail)?;
    let names = match found.as_slice() {
        [one] => one.names.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    };
    let (manifest, config, layers) = single_image(found, &platform).map_err(fail)?;
    Ok(ArchiveImage {
        manifest: manifest.raw().to_vec(),
        config: config.raw().to_vec(),
        layers: layers
            .iter()
            .map(|l| LayerSpan {
                digest: l.descriptor.digest.to_string(),
                offset: l.member.offset,
                size: l.member.size,
            })
            .collect(),
        names,
    })
}

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
    pub fn layer_url(&self, digest: &Digest) -> Result<String, String> {
        let mut urls = self.urls.0.lock().map_err(|_| "the layer URLs are unusable after a failure".to_owned())?;
        if let Some(url) = urls.get(digest.as_str()) {
            return Ok(url.clone());
        }
        let url = web_sys::Url::create_object_url_with_blob(&self.layer(digest)?)
            .map_err(|e| crate::page::failure::js_text(&e))?;
        urls.insert(digest.to_string(), url.clone());
        Ok(url)
    }

    /// The bytes of the base layer `digest`: a slice of the file (checked against the digest
    /// by whatever writes it: the archive writer, the registry).
    pub fn layer(&self, digest: &Digest) -> Result<Blob, String> {
        let span = self
            .layers
            .iter()
            .find(|l| l.digest == digest.as_str())
            .ok_or_else(|| format!("{} holds no layer {digest}", self.name))?;
        self.tar
            .slice_with_f64_and_f64(span.offset as f64, (span.offset + span.size) as f64)
            .map_err(|e| format!("reading layer {digest} of {}: {}", self.name, crate::page::failure::js_text(&e)))
    }
}
