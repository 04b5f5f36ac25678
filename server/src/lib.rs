//! `layerize-server`: serves the layerize page and forwards its registry calls, because
//! registries send no CORS headers and redirect blob downloads to storage hosts.
//!
//! [`app`] is the whole server as an axum [`Router`]: `/proxy/{scheme}/{host[:port]}/{path}`
//! forwards to the upstream URL ([`proxy`]) if [`Targets`] admits it, `/healthz` answers probes
//! ([`health`]), and every other path serves the page's files ([`static_files`]). The binary
//! serves it until SIGTERM or SIGINT, with a bounded grace for requests in flight
//! ([`shutdown`]). The page runs the registry protocol itself,
//! auth included; the proxy only forwards, streaming bodies both ways, and keeps no
//! credential. What it may reach is the `/v2/` API of allowlisted registries, the token
//! realms they name, and (for redirects) hosts whose addresses are all public, so that a page
//! cannot turn the server into a way into the network it runs in.

mod access_log;
pub mod blob_check;
pub mod cors;
mod error;
mod headers;
pub mod health;
pub mod proxy;
pub mod shutdown;
pub mod static_files;
pub mod target;
mod upstream;

use std::path::PathBuf;

use axum::routing::{get, on, MethodFilter};
use axum::{middleware, Router};

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
    upstream: Upstream,
}

impl AppState {
    pub fn new(dist: impl Into<PathBuf>, targets: Targets, cors_origins: Vec<CorsOrigin>) -> Result<AppState, Error> {
        Ok(AppState { dist: dist.into(), targets, cors_origins, upstream: Upstream::new()? })
    }
}

/// The server: the proxy route, the health probe, the page's files for everything else; CORS
/// around them and the access log around all.
pub fn app(state: AppState) -> Router {
    let methods = MethodFilter::GET
        .or(MethodFilter::HEAD)
        .or(MethodFilter::POST)
        .or(MethodFilter::PUT)
        .or(MethodFilter::PATCH)
        .or(MethodFilter::DELETE);
    Router::new()
        .route("/proxy/{*target}", on(methods, proxy::forward))
        .route(health::PATH, get(health::healthz))
        .fallback_service(static_files::service(&state.dist))
        .layer(cors::layer(&state.cors_origins))
        .layer(middleware::from_fn(access_log::log))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{header, Method, Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn healthz_answers_get_and_head_without_a_page() {
        let state = AppState::new("/nonexistent-dist", Targets::new([]), Vec::new()).unwrap_or_else(|e| panic!("{e}"));
        for (method, body) in [(Method::GET, "ok"), (Method::HEAD, "")] {
            let request = Request::builder()
                .method(&method)
                .uri("/healthz")
                .body(Body::empty())
                .unwrap_or_else(|e| panic!("{e}"));
            let response = app(state.clone()).oneshot(request).await.unwrap_or_else(|e| match e {});
            assert_eq!(response.status(), StatusCode::OK, "{method}");
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store", "{method}");
            let got = axum::body::to_bytes(response.into_body(), 1024).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&got[..], body.as_bytes(), "{method}");
        }
        let post = Request::post("/healthz").body(Body::empty()).unwrap_or_else(|e| panic!("{e}"));
        let response = app(state).oneshot(post).await.unwrap_or_else(|e| match e {});
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
