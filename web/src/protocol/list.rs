//! Listing a layer's members as it downloads, so they show while it does; the layer is held
//! to its digest and size at the end.

use layerize_core::layer::read::StoredEntry;
use layerize_core::media_type::Compression;
use serde::{Deserialize, Serialize};

use super::{Job, Nothing, Progress, RemoteLayer, Request};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct List {
    pub layer: RemoteLayer,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ListUpdate {
    /// Bytes of the layer downloaded.
    Fetched(Progress),
    /// The next members, in stream order.
    Entries(Vec<StoredEntry>),
}

/// The listing is complete, and the layer checked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Listed {
    pub count: u64,
    pub compression: Compression,
}

impl Job for List {
    type Input = Nothing;
    type Update = ListUpdate;
    type Done = Listed;
}

impl From<List> for Request {
    fn from(job: List) -> Request {
        Request::List(job)
    }
}
