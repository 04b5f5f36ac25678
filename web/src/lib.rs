//! The layerize page: pick a base image, drop files on it, build the layer in Web Workers
//! with the same core crate the CLI uses, and push the result through the server's proxy.
//!
//! `page` is what runs in the page (its state in `page::state`, the sections in
//! `page::components`, registries through `page::api`, builds spread over workers by
//! `page::layer_build`, each job in a worker driven by `page::worker_job`); `worker` is what
//! runs in a layer worker (one module per job: building a layer or a share of it from files
//! read ahead, hashing, listing, merging, extracting, opening an image tar); `protocol` is
//! what they say to each other, one request and event type per job. `blob_parts` (large
//! results kept by the browser) and `js_error` serve both sides.

pub mod blob_parts;
pub mod js_error;
pub mod page;
pub mod protocol;
pub mod worker;

pub use page::components::app::App;
