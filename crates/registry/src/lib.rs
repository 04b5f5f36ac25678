//! The OCI distribution protocol, written once for the CLI and the page.
//!
//! [`Client`] speaks to one registry: it pings, answers auth challenges (anonymous, basic,
//! bearer tokens with scopes, cached and renewed on 401), fetches manifests and blobs as raw,
//! verified bytes, and pushes blobs (mount, or POST → PATCH chunks → PUT) and manifests. It
//! sends every request through a [`Transport`], a trait with no `Send` bound so that a
//! browser implementation (whose futures are `!Send`) can sit beside the native one.

pub mod archive_sink;
pub mod auth;
mod client;
pub mod copy;
mod error;
mod pull;
mod push;
pub mod redact;
pub mod transport;

pub use auth::Credentials;
pub use client::{Client, Scheme};
pub use error::Error;
pub use pull::{BlobAccess, FetchedManifest};
pub use push::{BlobOutcome, BlobSource, UploadJournal};
pub use transport::{BodyStream, Request, Response, Transport};

/// Largest manifest or config this client reads into memory. Registries cap manifests at
/// 4 MiB; configs are small. A larger answer is a mistake or an attack, not an image.
pub const MAX_DOCUMENT_SIZE: usize = 32 << 20;

/// Largest chunk of one upload PATCH.
pub const CHUNK_SIZE: usize = 4 << 20;
