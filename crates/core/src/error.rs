//! The one error type of the core crate. Each variant names the input and what is wrong
//! with it, in words a user can act on.

use std::io;

/// Which rule a reference broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferenceProblem {
    Empty,
    Uppercase,
    Tag,
    Digest,
    Registry,
    Repository,
    TooLong,
}

impl ReferenceProblem {
    fn describe(self) -> &'static str {
        match self {
            ReferenceProblem::Empty => "the repository name is empty",
            ReferenceProblem::Uppercase => "repository names must be lowercase",
            ReferenceProblem::Tag => {
                "a tag is 1-128 characters of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
            }
            ReferenceProblem::Digest => "the digest after `@` must be `sha256:` and 64 lowercase hex digits",
            ReferenceProblem::Registry => {
                "the registry must be a host name or IP address with an optional numeric port"
            }
            ReferenceProblem::Repository => {
                "repository path components are lowercase letters and digits separated by `.`, `_`, `__` or dashes"
            }
            ReferenceProblem::TooLong => "the name is longer than 255 characters",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid image reference {input:?}: {}", problem.describe())]
    InvalidReference { input: String, problem: ReferenceProblem },

    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest { input: String, reason: &'static str },

    #[error("invalid platform {input:?}: expected os/arch or os/arch/variant, like linux/amd64 or linux/arm64/v8")]
    InvalidPlatform { input: String },

    #[error("no image for platform {wanted} in the index (it has: {available})")]
    PlatformNotFound { wanted: String, available: String },

    #[error("manifest of {what} is invalid: {problem}")]
    InvalidManifest { what: String, problem: String },

    #[error("{what} has media type {media_type}, which is not supported: {hint}")]
    UnsupportedMediaType { what: String, media_type: String, hint: &'static str },

    #[error("config {what} is invalid: {problem}")]
    InvalidConfig { what: String, problem: String },

    #[error("invalid path {path:?} in the layer: {problem}")]
    InvalidLayerPath { path: String, problem: &'static str },

    #[error("{path} {problem}")]
    LayerConflict { path: String, problem: &'static str },

    #[error("reading {path} for the layer failed: {source}")]
    LayerSource { path: String, source: io::Error },

    #[error("writing the layer failed: {source}")]
    LayerWrite { source: io::Error },

    #[error("cannot append to {what}: {problem}")]
    Mutate { what: String, problem: String },

    #[error("archive member {path:?}: {problem}")]
    InvalidMemberPath { path: String, problem: &'static str },

    #[error("archive member {member:?} (named by {named_by}) is not in the archive")]
    MissingMember { member: String, named_by: String },

    #[error("archive member {member:?} is cut short: it needs {needed} bytes but the archive ends after {available} of them")]
    TruncatedMember { member: String, needed: u64, available: u64 },

    #[error("archive member {member:?} has {what} {found}, expected {expected}")]
    MemberMismatch { member: String, what: &'static str, expected: String, found: String },

    #[error("archive member {member:?}: {problem}")]
    InvalidMember { member: String, problem: String },

    #[error("the archive {problem}")]
    InvalidArchive { problem: String },

    #[error("reading archive member {member:?} failed: {source}")]
    ArchiveRead { member: String, source: io::Error },

    #[error("writing the archive failed: {source}")]
    ArchiveWrite { source: io::Error },

    #[error("layer {what} cannot be read: {problem}")]
    LayerFormat { what: String, problem: String },

    #[error("reading layer {what} failed after {entries} entries: {source}")]
    LayerRead { what: String, entries: u64, source: io::Error },

    #[error("cannot extract {path} from layer {what}: {problem}")]
    LayerMember { what: String, path: String, problem: String },

    #[error("writing {path} extracted from layer {what} failed: {source}")]
    ExtractWrite { what: String, path: String, source: io::Error },
}
