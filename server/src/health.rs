//! `GET /healthz` (and `HEAD`): `200 ok` while the server takes requests, for load balancers
//! and Kubernetes probes.
//!
//! It checks nothing upstream on purpose: the server keeps no state, so a registry being down
//! is no reason to restart it or take it out of a load balancer. Once it is stopping it
//! accepts no new connection, which is the answer a probe needs then.

use axum::http::header;
use axum::response::IntoResponse;

/// Where the probe is answered.
pub const PATH: &str = "/healthz";

/// The probe's answer; never cached by anything between it and the prober.
pub async fn healthz() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], "ok")
}
