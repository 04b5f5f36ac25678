//! Where a layer a worker reads is, and what it must be: the request of the jobs that read
//! layers as they download (a listing, the merged filesystem, one file).

use layerize_core::Digest;
use layerize_registry::transport::proxy::Vouching;
use serde::{Deserialize, Serialize};

/// Where a layer is and what it must be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoteLayer {
    /// Its digest; also names it in errors.
    pub digest: Digest,
    /// The proxied blob URL, or an object URL of a slice of an opened tar.
    pub url: String,
    /// Whether a "checked" label on the download is believed (only from the page's own proxy).
    pub vouching: Vouching,
    /// The pull's Authorization header: a secret, sent only to `url`.
    pub authorization: Option<String>,
    pub size: u64,
}
