//! The page ⇄ worker protocol: one module per job, each with its request (what starts it), its
//! updates (what it says while it runs) and its done event (its last word). A worker runs one
//! job and ends; the page's handle on it is `page::worker_job::WorkerJob`.
//!
//! Everything travels as one serde value (through serde-wasm-bindgen). Browser objects a
//! message carries (the dropped `File`s, a built layer's `Blob`) are fields of it marked
//! `#[serde(with = "js")]`: they pass through as themselves, structured-cloned by
//! `postMessage` (a `File` is a handle, not its bytes), typed on both sides.
//!
//! The framing ([`FromWorker`]) decides what ends a job: [`FromWorker::Done`] and
//! [`FromWorker::Failed`], nothing else.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub mod build;
pub mod extract;
pub mod hash;
pub mod list;
pub mod merge;
pub mod open_archive;
pub mod remote_layer;

pub use build::{Build, BuildShare, WireEntry, WireKind};
pub use extract::Extract;
pub use hash::Hash;
pub use list::List;
pub use merge::Merge;
pub use open_archive::OpenArchive;
pub use remote_layer::RemoteLayer;

/// A job a worker runs. The request is the value of the type itself.
pub trait Job: Serialize + DeserializeOwned + Into<Request> + 'static {
    /// What the page sends after the request (only a streamed hash takes more).
    type Input: Serialize + DeserializeOwned;
    /// What the worker says while the job runs (progress, rows as they are read).
    type Update: Serialize + DeserializeOwned;
    /// The job's result: its last event.
    type Done: Serialize + DeserializeOwned;
}

/// Every job, as a worker receives its first message.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Build(Build),
    BuildShare(BuildShare),
    Hash(Hash),
    List(List),
    Merge(Merge),
    Extract(Extract),
    OpenArchive(OpenArchive),
}

/// What a worker says about job `J`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub enum FromWorker<J: Job> {
    /// The worker's wasm runs: a message sent before this is lost, so the request waits for it.
    Ready,
    Update(J::Update),
    /// The job is done; the worker ends.
    Done(J::Done),
    /// The job failed, in words for a person; the worker ends.
    Failed {
        message: String,
    },
}

/// Bytes done of a total: of content read (a build), or of a blob downloaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// A message that cannot be: the input of jobs that take none, the updates of jobs that have
/// none.
#[derive(Debug, Serialize, Deserialize)]
pub enum Nothing {}

/// A browser object as a field of a message: it passes through serde as itself (see
/// `serde_wasm_bindgen::preserve`), and arrives as the type it was sent as.
pub mod js {
    use serde::{Deserializer, Serializer};
    use wasm_bindgen::{JsCast, JsValue};

    pub fn serialize<S: Serializer, T: JsCast>(value: &T, ser: S) -> Result<S::Ok, S::Error> {
        serde_wasm_bindgen::preserve::serialize(value, ser)
    }

    /// Like `preserve::deserialize`, but an object of the wrong kind is named by the type
    /// expected, not by the object's debug form.
    pub fn deserialize<'de, D: Deserializer<'de>, T: JsCast>(de: D) -> Result<T, D::Error> {
        let value: JsValue = serde_wasm_bindgen::preserve::deserialize(de)?;
        value.dyn_into().map_err(|_| {
            let name = std::any::type_name::<T>().rsplit("::").next().unwrap_or("object");
            serde::de::Error::custom(format_args!("expected a {name}"))
        })
    }
}

/// The dropped files of a build, in the order its entries index them.
pub mod js_files {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use web_sys::File;

    #[derive(Serialize, Deserialize)]
    struct One(#[serde(with = "super::js")] File);

    pub fn serialize<S: Serializer>(files: &[File], ser: S) -> Result<S::Ok, S::Error> {
        let mut seq = ser.serialize_seq(Some(files.len()))?;
        for file in files {
            seq.serialize_element(&One(file.clone()))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<File>, D::Error> {
        Ok(Vec::<One>::deserialize(de)?.into_iter().map(|One(file)| file).collect())
    }
}
