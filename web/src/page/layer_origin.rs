//! Where the worker reads a base layer from: its registry (through the proxy, with the
//! page's login) or the image tar the base was opened from.

use layerize_core::descriptor::Descriptor;
use layerize_core::Reference;
use layerize_registry::transport::proxy::Vouching;

use super::api::{self, Logins};
use super::archive_base::ArchiveBase;
use super::Error;
use crate::protocol::RemoteLayer;

/// Where an image's layers are read from.
#[derive(Clone, Debug)]
pub enum LayerOrigin {
    /// Its repository, through the proxy, with the page's login.
    Registry { reference: Reference, logins: Logins },
    /// The image tar opened as the base: slices of the file.
    Archive(ArchiveBase),
}

/// Where the worker finds `layer`: for a registry, the proxied URL and the Authorization header
/// the registry client negotiated for it; for an opened tar, an object URL of the layer's slice
/// of the file (see [`ArchiveBase::layer_url`]).
pub async fn locate(origin: &LayerOrigin, layer: &Descriptor) -> Result<RemoteLayer, Error> {
    let (url, authorization, vouching) = match origin {
        LayerOrigin::Registry { reference, logins } => api::blob_access(reference, logins, &layer.digest).await?,
        LayerOrigin::Archive(archive) => (archive.layer_url(&layer.digest)?, None, Vouching::NotBelieved),
    };
    Ok(RemoteLayer { digest: layer.digest.clone(), url, authorization, vouching, size: layer.size })
}
