//! The layerize page: pick a base image, drop files on it, build the layer in a Web Worker
//! with the same core crate the CLI uses, and push the result through the server's proxy.
//!
//! `components` render; `api` talks to registries (through the registry crate's browser
//! transport); `worker` is the typed protocol with the layer worker (`bin/worker.rs`);
//! `location` keeps the shareable address (`?image=…&platform=…`).

pub mod api;
pub mod components;
pub mod location;
pub mod worker;

pub use components::app::App;
