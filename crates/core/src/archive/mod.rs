//! Image archives: the tars `docker save` writes and `docker load` reads, and OCI layouts in
//! a tar (podman, skopeo, containerd), read and written without touching a file system.
//!
//! Reading goes [`members::Members::scan`] (one pass over the tar headers, recording where
//! each member's bytes lie) → [`read::find_images`] (`manifest.json` and/or `index.json` →
//! manifests, configs and located layers, each small document checked against its digest) →
//! the caller streams each layer through a [`verify::BlobCheck`]. Writing is one
//! [`write::ArchiveWriter`] pass: blobs as they arrive, then the files that list them.
//!
//! Everything takes `Read + Seek` or `Write`, so the CLI passes a `File` and the page a
//! worker-side reader over a dropped file.

pub mod docker;
pub mod member;
pub mod members;
pub mod oci_layout;
pub mod read;
pub mod shape;
pub mod verify;
pub mod write;

pub use members::{FileMember, Members};
pub use read::{find_images, single_image, ArchivedBlob, ArchivedImage, Content, Found};
pub use shape::{copy_tar, TarShape};
pub use verify::{BlobCheck, Expected};
pub use write::{ArchiveWriter, BlobWriter};
