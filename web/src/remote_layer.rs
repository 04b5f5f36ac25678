//! A layer blob the layer worker fetches itself (Range requests through the proxy, see
//! [`crate::range_read`]) and holds to its digest and size once it has read it to the end.

use layerize_core::descriptor::Descriptor;
use layerize_core::layer::read::LayerReader;
use layerize_core::Reference;
use serde::{Deserialize, Serialize};

use crate::api::{self, Login};
use crate::archive_base::ArchiveBase;
use crate::range_read::RangeRead;

/// Where a layer is and what it must be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoteLayer {
    /// Its digest; also names it in errors.
    pub what: String,
    /// The proxied blob URL.
    pub url: String,
    /// The pull's Authorization header: a secret, sent only to `url`.
    pub authorization: Option<String>,
    pub size: u64,
}

impl RemoteLayer {
    /// Runs `read` on the layer's core reader as the blob arrives, then reads whatever `read`
    /// left and checks the whole blob: a result from bytes that fail the check is not returned.
    /// `on_fetched(done, size)` follows the download.
    pub fn read_verified<T>(
        &self,
        on_fetched: &mut dyn FnMut(u64, u64),
        read: impl FnOnce(&mut LayerReader<&mut RangeRead<'_>>) -> Result<T, layerize_core::Error>,
    ) -> Result<T, String> {
        let mut source = RangeRead::new(self.url.clone(), self.authorization.clone(), self.size, on_fetched);
        let result = {
            let mut reader = LayerReader::new(&self.what, &mut source).map_err(|e| e.to_string())?;
            read(&mut reader).map_err(|e| e.to_string())?
        };
        let (digest, len) = source.finish().map_err(|e| format!("reading layer {}: {e}", self.what))?;
        if digest.as_str() != self.what || len != self.size {
            return Err(format!("layer {} does not match its descriptor: {len} bytes with digest {digest}", self.what));
        }
        Ok(result)
    }
}

/// Where an image's layers are read from.
#[derive(Clone, Debug)]
pub enum LayerOrigin {
    /// Its repository, through the proxy, with the page's login.
    Registry { reference: Reference, login: Login },
    /// The image tar opened as the base: slices of the file.
    Archive(ArchiveBase),
}

/// Where the worker finds `layer`: for a registry, the proxied URL and the Authorization header
/// the registry client negotiated for it; for an opened tar, an object URL of the layer's slice
/// of the file (the browser answers Range requests on it like a server; the slice is not
/// copied, and the URL lives as long as the page).
pub async fn locate(origin: &LayerOrigin, layer: &Descriptor) -> Result<RemoteLayer, String> {
    let (url, authorization) = match origin {
        LayerOrigin::Registry { reference, login } => api::blob_access(reference, login, &layer.digest).await?,
        LayerOrigin::Archive(archive) => {
            let slice = archive.layer(&layer.digest)?;
            (web_sys::Url::create_object_url_with_blob(&slice).map_err(|e| format!("{e:?}"))?, None)
        }
    };
    Ok(RemoteLayer { what: layer.digest.to_string(), url, authorization, size: layer.size })
}
