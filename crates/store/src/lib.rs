//! Native image storage for layerize: what touches the file system and so cannot live in the
//! sans-IO core.
//!
//! - [`layout`]: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`), read and
//!   written atomically; the local store is one, and so is any `oci:DIR`.
//! - [`unpack`]: an image's layers applied in order to a directory, the way a runtime does,
//!   and [`export`]: the same tree as one flattened tar.

mod blob_thread;
mod blob_writer;
pub mod error;
pub mod export;
pub mod gc;
pub mod layout;
pub mod layout_image;
mod rootfs;
pub mod unpack;
pub mod uploads;

pub use error::Error;
