//! Why a job in the worker failed, in words for the page to show (it adds what the person
//! asked for: "reading layer 2: …").

use layerize_core::Digest;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] layerize_core::Error),
    #[error("there is no gzip profile {0}")]
    NoGzipProfile(u8),
    /// A browser API failed (its words from `js_text`) while the worker was `doing` something.
    #[error("{doing}: {reason}")]
    Browser { doing: String, reason: String },
    #[error("hashing {what}: {source}")]
    Hashing { what: String, source: std::io::Error },
    /// Opening an image tar, named by its file name.
    #[error("{what}: {source}")]
    Archive { what: String, source: Box<Error> },
    #[error("fetching layer {digest}: {problem}")]
    Fetch { digest: Digest, problem: FetchProblem },
    #[error("layer {digest} does not match its descriptor: {received} of {size} bytes, and {check}")]
    Mismatch { digest: Digest, received: u64, size: u64, check: String },
    /// Merging: layer `at` of `of` failed.
    #[error("layer {at} of {of}: {source}")]
    InLayer { at: usize, of: usize, source: Box<Error> },
    #[error("layer {digest} ended before {path} did")]
    NoSuchFile { digest: Digest, path: String },
    /// The pieces read ahead ran out before the entries did (a bug, not the person's files).
    #[error("{0}: the layer worker lost its place in the dropped files")]
    LostPlace(String),
}

impl Error {
    /// A browser API's failure while `doing` something.
    pub fn browser(doing: impl Into<String>, e: &wasm_bindgen::JsValue) -> Error {
        Error::Browser { doing: doing.into(), reason: crate::js_error::js_text(e) }
    }
}

/// What went wrong downloading a layer.
#[derive(Debug, thiserror::Error)]
pub enum FetchProblem {
    #[error("the request failed: {0}")]
    Request(String),
    #[error("the registry answered {status}: {said}")]
    Status { status: u16, said: String },
    #[error("the response has no body")]
    NoBody,
    #[error("{0}")]
    Read(String),
    #[error("the registry sent more than the {size} bytes the descriptor gives")]
    TooLong { size: u64 },
}
