//! Hashing a blob that arrives in parts while it is being made (the layer a shared build
//! joins): the request, then [`HashInput::Part`]s in order and [`HashInput::End`].

use js_sys::Uint8Array;
use layerize_core::Digest;
use serde::{Deserialize, Serialize};

use super::{Job, Request};

/// Start hashing; `what` names the blob in errors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hash {
    pub what: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum HashInput {
    /// The next part of the blob.
    Part {
        #[serde(with = "super::js")]
        bytes: Uint8Array,
    },
    /// The blob is complete.
    End,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum HashUpdate {
    /// The worker takes parts now.
    Ready,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hashed {
    pub digest: Digest,
    pub size: u64,
}

impl Job for Hash {
    type Input = HashInput;
    type Update = HashUpdate;
    type Done = Hashed;
}

impl From<Hash> for Request {
    fn from(job: Hash) -> Request {
        Request::Hash(job)
    }
}
