//! The page: the Leptos app (`components` render the `state`), what it asks of registries
//! (`api`), the tars it saves (`save` into a `download`), and the jobs it starts in workers
//! (`worker_job`; `layer_build` spreads a build over several).

pub mod api;
pub mod archive_base;
pub mod components;
pub mod download;
pub mod error;
pub mod failure;
pub mod layer_build;
pub mod layer_origin;
pub mod location;
pub mod save;
pub mod state;
pub mod worker_job;

pub use error::Error;
