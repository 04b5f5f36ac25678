//! One regular file out of a layer, read as the layer downloads.

use serde::{Deserialize, Serialize};
use web_sys::Blob;

use super::{Job, Nothing, Progress, RemoteLayer, Request};

/// The bytes of the regular file at `path` in `layer`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Extract {
    pub layer: RemoteLayer,
    pub path: String,
}

/// The file, checked with its layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Extracted {
    pub path: String,
    pub size: u64,
    #[serde(with = "super::js")]
    pub blob: Blob,
}

impl Job for Extract {
    type Input = Nothing;
    /// Bytes of the layer downloaded.
    type Update = Progress;
    type Done = Extracted;
}

impl From<Extract> for Request {
    fn from(job: Extract) -> Request {
        Request::Extract(job)
    }
}
