//! The store crate's one error type: every message names the file, directory, image or layer
//! it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    /// A directory that should be an OCI image layout is not one.
    #[error("{} {problem}", path.display())]
    NotALayout { path: PathBuf, problem: String },
    /// A layout's file is not what it must be.
    #[error("{} {problem}", path.display())]
    Damaged { path: PathBuf, problem: String },
    /// No image of that name in the layout.
    #[error("the OCI layout {} has no image named {name:?}", layout.display())]
    UnknownName { layout: PathBuf, name: String },
    /// A blob a manifest or index needs is not in the layout.
    #[error("the OCI layout {} has no blob {digest}", layout.display())]
    MissingBlob { layout: PathBuf, digest: layerize_core::Digest },
    /// Bytes written as a blob hash to something else.
    #[error("blob {blob} arrived with digest {found}; nothing was stored")]
    DigestMismatch { blob: layerize_core::Digest, found: layerize_core::Digest },
    /// The directory to unpack into is neither absent nor an empty directory.
    #[error("cannot unpack into {}: {problem}", path.display())]
    UnpackTarget { path: PathBuf, problem: &'static str },
    /// A layer member that would write outside the directory, or where no layer should.
    #[error("{layer}: member {member:?} is refused: {reason}")]
    Refused { layer: String, member: String, reason: String },
    /// Writing a layer member to the directory failed.
    #[error("{layer}: member {member:?}: cannot {action}: {source}")]
    Member { layer: String, member: String, action: &'static str, source: std::io::Error },
    /// Writing the flattened tar of an export failed.
    #[error("writing the exported tar failed: {source}")]
    ExportWrite { source: std::io::Error },
    /// The core refused a document or a layer.
    #[error(transparent)]
    Core(#[from] layerize_core::Error),
}

impl Error {
    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}
