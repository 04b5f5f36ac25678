//! The merged filesystem of an image whose layers (lowest first) the worker fetches.

use layerize_core::flatten::MergedEntry;
use serde::{Deserialize, Serialize};

use super::{Job, Nothing, Progress, RemoteLayer, Request};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Merge {
    pub layers: Vec<RemoteLayer>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum MergeUpdate {
    /// Merging has reached layer `layer` (from 1) of `layers`; `Fetched` follows its bytes.
    Reading {
        layer: usize,
        layers: usize,
    },
    Fetched(Progress),
    /// The next entries of the merged filesystem, in tree order.
    Entries(Vec<MergedEntry>),
}

/// The merged filesystem is complete.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Merged {
    pub count: u64,
}

impl Job for Merge {
    type Input = Nothing;
    type Update = MergeUpdate;
    type Done = Merged;
}

impl From<Merge> for Request {
    fn from(job: Merge) -> Request {
        Request::Merge(job)
    }
}
