//! One log line per request that the proxy does not log itself: the page's files (method,
//! path, status, time taken) and, at debug level, health probes, which would otherwise fill the
//! log. No header and no query is logged: the page's address can carry an image reference
//! (`?image=…`), and headers can carry credentials.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use crate::{health, proxy};

/// The middleware (see [`axum::middleware::from_fn`]).
pub async fn log(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with(proxy::PREFIX) {
        // The proxy route logs its own line, with the redacted upstream URL.
        return next.run(request).await;
    }
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    if path == health::PATH {
        tracing::debug!(%method, path, status, ms, "probed");
    } else {
        tracing::info!(%method, path, status, ms, "served");
    }
    response
}
