//! The native transport: reqwest with rustls.

use futures_util::StreamExt;

use super::{Request, Response, Transport};
use crate::error::Error;
use crate::redact;

/// reqwest-backed transport for the CLI and the server.
#[derive(Clone, Debug)]
pub struct Native {
    client: reqwest::Client,
}

impl Native {
    pub fn new() -> Result<Native, Error> {
        // reqwest drops Authorization (and other sensitive headers) on redirects to another
        // host, which is what blob redirects to storage hosts need.
        let client = reqwest::Client::builder()
            .user_agent(concat!("layerize/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(10))
            .connect_timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Protocol { registry: "-".into(), message: format!("cannot set up HTTP client: {e}") })?;
        Ok(Native { client })
    }
}

impl Transport for Native {
    async fn send(&self, request: Request) -> Result<Response, Error> {
        let url_text = redact::url(&request.url);
        let registry = request.url.host_str().unwrap_or_default().to_owned();
        let response = self
            .client
            .request(request.method, request.url)
            .headers(request.headers)
            .body(request.body)
            .send()
            .await
            .map_err(|e| Error::Unreachable { registry: registry.clone(), url: url_text.clone(), message: describe(&e) })?;
        let status = response.status();
        let headers = response.headers().clone();
        let url = response.url().clone();
        let body = response.bytes_stream().map(move |chunk| {
            chunk.map_err(|e| Error::Unreachable { registry: registry.clone(), url: url_text.clone(), message: describe(&e) })
        });
        Ok(Response { status, headers, url, body: Box::pin(body) })
    }
}

/// The error and its causes ("connection refused"), without reqwest's copy of the URL,
/// which may carry upload state.
fn describe(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "body transfer failed"
    } else {
        "request failed"
    };
    if parts.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {}", parts.join(": "))
    }
}
