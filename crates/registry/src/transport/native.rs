//! The native transport: reqwest with rustls.

use bytes::Bytes;
use futures_util::StreamExt;

use super::{Request, Response, Transport, UploadStream};
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
            .map_err(|e| Error::Protocol {
                registry: "-".into(),
                message: format!("cannot set up HTTP client: {e}"),
            })?;
        Ok(Native { client })
    }
}

impl Transport for Native {
    async fn send(&self, request: Request) -> Result<Response, Error> {
        let url_text = redact::url(&request.url);
        let registry = request.url.host_str().unwrap_or_default().to_owned();
        let sent =
            self.client.request(request.method, request.url).headers(request.headers).body(request.body).send().await;
        let response = sent.map_err(|e| Error::Unreachable {
            registry: registry.clone(),
            url: url_text.clone(),
            message: describe(&e),
        })?;
        Ok(wrap(response, registry, url_text))
    }

    fn streams_uploads(&self) -> bool {
        true
    }

    /// reqwest wants a `Send` body; ours need not be (the browser's are not). A small channel
    /// bridges them: this task polls the body into the channel while reqwest sends from it.
    async fn send_stream<'a>(&'a self, request: Request, body: UploadStream<'a>) -> Result<Response, Error> {
        let url_text = redact::url(&request.url);
        let registry = request.url.host_str().unwrap_or_default().to_owned();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let chunks = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
        let send = self
            .client
            .request(request.method, request.url)
            .headers(request.headers)
            .body(reqwest::Body::wrap_stream(chunks))
            .send();
        let pump = async move {
            let mut body = body;
            while let Some(chunk) = body.next().await {
                match chunk {
                    // The request ended early (the server answered); its answer tells why.
                    Ok(bytes) => {
                        if tx.send(Ok(bytes)).await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(std::io::Error::other("the upload's source failed"))).await;
                        return Err(e);
                    }
                }
            }
            Ok(())
        };
        let (pumped, sent) = futures_util::future::join(pump, send).await;
        pumped?;
        let response = sent.map_err(|e| Error::Unreachable {
            registry: registry.clone(),
            url: url_text.clone(),
            message: describe(&e),
        })?;
        Ok(wrap(response, registry, url_text))
    }
}

/// Our response over reqwest's, with body errors worded like request errors.
fn wrap(response: reqwest::Response, registry: String, url_text: String) -> Response {
    let status = response.status();
    let headers = response.headers().clone();
    let url = response.url().clone();
    let body = response.bytes_stream().map(move |chunk| {
        chunk.map_err(|e| Error::Unreachable {
            registry: registry.clone(),
            url: url_text.clone(),
            message: describe(&e),
        })
    });
    Response { status, headers, url, body: Box::pin(body) }
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
