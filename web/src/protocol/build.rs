//! Building a layer from dropped files: the whole layer in one worker ([`Build`]), or one
//! share of its gzip blocks in each of several ([`BuildShare`], see `page::layer_build`).

use js_sys::Uint8Array;
use layerize_core::Digest;
use serde::{Deserialize, Serialize};
use web_sys::{Blob, File};

use super::{Job, Nothing, Progress, Request};

/// One entry of the layer as the page describes it; files point into the request's `files`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WireKind {
    File { mode: u32, size: u64, index: u32 },
    Whiteout,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireEntry {
    pub path: String,
    pub kind: WireKind,
}

/// Build the whole layer from `files`, in pinned gzip profile `gzip_profile` (1 or 2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Build {
    pub entries: Vec<WireEntry>,
    #[serde(with = "super::js_files")]
    pub files: Vec<File>,
    pub mtime: u64,
    pub gzip_profile: u8,
}

/// The layer is built.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Built {
    pub diff_id: Digest,
    pub digest: Digest,
    pub size: u64,
    pub tar_size: u64,
    pub millis: f64,
    pub wasm_memory: u64,
    /// The gzip blob.
    #[serde(with = "super::js")]
    pub blob: Blob,
}

impl Job for Build {
    type Input = Nothing;
    type Update = Progress;
    type Done = Built;
}

impl From<Build> for Request {
    fn from(job: Build) -> Request {
        Request::Build(job)
    }
}

/// Build share `shard` of `shards` of the layer: deflate only this share's gzip blocks,
/// posting each as it is made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BuildShare {
    pub entries: Vec<WireEntry>,
    #[serde(with = "super::js_files")]
    pub files: Vec<File>,
    pub mtime: u64,
    pub gzip_profile: u8,
    pub shard: u32,
    pub shards: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ShareUpdate {
    Progress(Progress),
    /// Compressed block `number` of the layer, as bytes: the page keeps them as a Blob part
    /// and hands the same bytes to the hasher, so neither a share nor the hasher spends its
    /// time on making a Blob or reading one back.
    Block {
        number: u64,
        #[serde(with = "super::js")]
        bytes: Uint8Array,
    },
}

/// The share is built, after it posted its `blocks` blocks. `frame` is the gzip header and
/// the 8-byte trailer; `diff_id` and `frame` come from share 0 only.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShareBuilt {
    pub diff_id: Option<Digest>,
    pub tar_size: u64,
    pub frame: Vec<u8>,
    pub blocks: u64,
    pub wasm_memory: u64,
}

impl Job for BuildShare {
    type Input = Nothing;
    type Update = ShareUpdate;
    type Done = ShareBuilt;
}

impl From<BuildShare> for Request {
    fn from(job: BuildShare) -> Request {
        Request::BuildShare(job)
    }
}
