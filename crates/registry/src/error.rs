//! The registry crate's error type: what was being done, against which (redacted) URL, and
//! what the registry said.

use layerize_core::Digest;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach registry {registry} ({url}): {message}")]
    Unreachable { registry: String, url: String, message: String },

    #[error("registry {registry} refused the credentials for {action}: {hint}")]
    Unauthorized { registry: String, action: String, hint: String },

    #[error("{what} not found on {registry}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    NotFound { registry: String, what: String, detail: Option<String> },

    #[error("registry {registry} answered {status} to {action} ({url}){}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Registry { registry: String, action: String, url: String, status: u16, message: Option<String> },

    #[error("{what} from {registry} has digest {found}, expected {expected}")]
    DigestMismatch { registry: String, what: String, expected: Digest, found: Digest },

    #[error("{what} from {registry} is larger than {limit} bytes")]
    TooLarge { registry: String, what: String, limit: usize },

    #[error("registry {registry}: {message}")]
    Protocol { registry: String, message: String },

    #[error("reading the blob to upload failed: {0}")]
    Source(#[source] std::io::Error),

    #[error(transparent)]
    Core(#[from] layerize_core::Error),

    /// A source or sink that is not a registry (an OCI layout, the store) failed; its own
    /// error names the file.
    #[error(transparent)]
    Local(Box<dyn std::error::Error + Send + Sync + 'static>),
}
