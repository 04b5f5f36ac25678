//! `layerize-server`: serves the layerize page and forwards its registry calls, because
//! registries send no CORS headers and redirect blob downloads to storage hosts.
//!
//! [`app`] is the whole server as an axum [`Router`]: `/proxy/{scheme}/{host[:port]}/{path}`
//! forwards to the upstream URL ([`proxy`]) if [`Targets`] admits it, and every other path
//! serves the page's files ([`static_files`]). The page runs the registry protocol itself,
//! auth included; the proxy only forwards, streaming bodies both ways, and keeps no
//! credential. What it may reach is the `/v2/` API of allowlisted registries, the token
//! realms they name, and (for redirects) hosts whose addresses are all public, so that a page
//! cannot turn the server into a way into the network it runs in.

pub mod blob_check;
pub mod cors;
mod error;
mod headers;
pub mod proxy;
pub mod static_files;
pub mod target;
mod upstream;

use std::path::PathBuf;

use axum::routing::{on, MethodFilter};
use axum::Router;

pub use cors::CorsOrigin;
pub use error::{Error, Refusal};
pub use target::{AllowedHost, Targets};

use upstream::Upstream;

/// Everything the server needs; cheap to clone (the learned realms are shared).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The built page (trunk's `dist`).
    pub dist: PathBuf,
    /// What the proxy may reach.
    pub targets: Targets,
    /// Origins other than the server's own that may call it.
    pub cors_origins: Vec<CorsOrigin>,
    /// Whether the page is served cross-origin isolated (see [`static_files::service`]).
    pub isolated: bool,
    upstream: Upstream,
}

impl AppState {
    pub fn new(dist: impl Into<PathBuf>, targets: Targets, cors_origins: Vec<CorsOrigin>) -> Result<AppState, Error> {
        Ok(AppState { dist: dist.into(), targets, cors_origins, isolated: true, upstream: Upstream::new()? })
    }
}

/// The server: the proxy route, the page's files for everything else, CORS around both.
pub fn app(state: AppState) -> Router {
    let methods = MethodFilter::GET
        .or(MethodFilter::HEAD)
        .or(MethodFilter::POST)
        .or(MethodFilter::PUT)
        .or(MethodFilter::PATCH)
        .or(MethodFilter::DELETE);
    Router::new()
        .route("/proxy/{*target}", on(methods, proxy::forward))
        .fallback_service(static_files::service(&state.dist, state.isolated))
        .layer(cors::layer(&state.cors_origins))
        .with_state(state)
}
