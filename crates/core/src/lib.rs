//! The sans-IO heart of layerize: everything about an image that can be computed from bytes.
//!
//! Data flows one way: a [`reference::Reference`] names an image; a registry (another crate)
//! returns raw manifest bytes, viewed through [`manifest`] without ever re-serialising them; an
//! [`platform::Platform`] picks one image from an index; [`config`] reads and edits the image
//! config; [`layer`] turns a list of entries into a deterministic, gzipped tar in one streaming
//! pass and reports both digests; [`mutate`] combines base and new layers into new config and
//! manifest bytes; [`archive`] reads and writes the tars `docker save` and `docker load` use.
//!
//! Going the other way, [`layer::read`] reads a layer blob back as typed entries while it
//! streams in, [`flatten`] merges layers into the filesystem a runtime would see,
//! [`shadow`] tells what a planned layer would replace and delete in it, and [`inspect`]
//! reports what an index or image holds.
//!
//! Nothing here touches the network, the file system, the clock or the environment: times are
//! parameters and bytes arrive through `Read`/`Write`. That is what lets the same code run in a
//! browser Web Worker and in the CLI and produce the same digests.

pub mod archive;
pub mod config;
pub mod descriptor;
pub mod digest;
pub mod error;
pub mod flatten;
pub mod inspect;
pub mod layer;
pub mod manifest;
pub mod media_type;
pub mod mutate;
pub mod platform;
pub mod reference;
pub mod shadow;

pub use digest::Digest;
pub use error::Error;
pub use media_type::MediaType;
pub use platform::Platform;
pub use reference::Reference;
