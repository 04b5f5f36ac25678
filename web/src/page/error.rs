//! Why something the page did failed, in words a person can act on. The sections show it
//! through `failure` (per section, the fix first), adding what was asked for.

use layerize_core::{Digest, Reference};

use crate::js_error::js_text;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A registry's error, worded with the fix first where the page knows one.
    #[error("{}", super::failure::registry(.0))]
    Registry(#[from] layerize_registry::Error),
    #[error(transparent)]
    Core(#[from] layerize_core::Error),
    /// A field the person typed is wrong (`Env`, `name for the tar`).
    #[error("{field}: {reason}")]
    Field { field: &'static str, reason: String },
    #[error("give the image a name for the tar, e.g. app:1")]
    NoTarName,
    #[error("name for the tar: {0:?} has a digest but no tag; give a tag, e.g. app:1")]
    TarNameWithoutTag(String),
    /// A browser API failed while the page was `doing` something (its words from `js_text`).
    #[error("{doing}: {reason}")]
    Browser { doing: String, reason: String },
    /// A job in a worker failed, in the worker's words.
    #[error("{0}")]
    Worker(String),
    #[error("{archive} holds no layer {digest}")]
    NoSuchLayer { archive: String, digest: Digest },
    #[error("{0}: the image is an index, not an image manifest")]
    IndexInArchive(String),
    #[error("{0} is an index with no images in it")]
    EmptyIndex(Reference),
    #[error("appending to {digest}: {source}")]
    Append { digest: Digest, source: layerize_core::Error },
    /// A spread build's workers did not agree on what they built.
    #[error("{0}")]
    Shares(&'static str),
    #[error("gzip block {0} is missing")]
    MissingBlock(u64),
    #[error("the joined layer has {joined} bytes, the hashed one {hashed}")]
    JoinedSize { joined: u64, hashed: u64 },
    /// The page is not where it should be (no window, a state a bug left): a report is due.
    #[error("internal error, please report: {0}")]
    Internal(&'static str),
}

impl Error {
    /// A browser API's failure while `doing` something.
    pub fn browser(doing: impl Into<String>, e: &wasm_bindgen::JsValue) -> Error {
        Error::Browser { doing: doing.into(), reason: js_text(e) }
    }
}
