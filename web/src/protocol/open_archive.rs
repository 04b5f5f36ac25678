//! Opening an image tar (`docker save`, OCI archive) to take its one image as the base.

use layerize_core::Digest;
use serde::{Deserialize, Serialize};
use web_sys::{Blob, File};

use super::{Job, Nothing, Request};

/// Read `file`; its name names it in errors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenArchive {
    #[serde(with = "super::js")]
    pub file: File,
}

/// What the worker found in the tar.
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
    pub digest: Digest,
    pub offset: u64,
    pub size: u64,
}

/// The tar's image, and the plain tar its layers are sliced from: the file itself, or what
/// the worker gunzipped it to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Opened {
    pub image: ArchiveImage,
    #[serde(with = "super::js")]
    pub tar: Blob,
}

impl Job for OpenArchive {
    type Input = Nothing;
    type Update = Nothing;
    type Done = Opened;
}

impl From<OpenArchive> for Request {
    fn from(job: OpenArchive) -> Request {
        Request::OpenArchive(job)
    }
}
