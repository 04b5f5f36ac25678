//! The layerize page: pick a base image, drop files on it, build the layer in a Web Worker
//! with the same core crate the CLI uses, and push the result through the server's proxy.
//!
//! The page's state is a few contexts in `state` (the base, the draft, the build), which the
//! sections in `components` render and change.
//!
//! `components` render; `api` talks to registries (through the registry crate's browser
//! transport); `worker` is the typed protocol with the layer worker (`bin/worker.rs`) and `layer_build`
//! spreads a build over several of them;
//! `location` keeps the shareable address (`?image=…&platform=…`); `save` writes an image as a
//! docker-load tar to a `download` destination, large results kept in `blob_parts`;
//! `archive_base` takes an image tar as the base. In the
//! worker, `remote_layer` reads a layer as it downloads (one streamed `fetch`, fed to the
//! core's push decoder) and checks it, for the listing, `merged_listing` (the merged
//! filesystem) and `file_extract` (one file's bytes).

pub mod blob_parts;
pub mod js_error;
pub mod page;
pub mod protocol;
pub mod worker;

pub use page::components::app::App;
