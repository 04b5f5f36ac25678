//! The native transport: reqwest with rustls.
//!
//! Redirects are followed here, not by reqwest, so that one rule decides what crosses to another
//! origin: the `Authorization` header never does (another host, another port, or the same host
//! over another scheme). Every read has an idle timeout, and a request that can be sent again
//! (GET, HEAD) is retried on a network failure or an answer that says "try later", with capped
//! exponential backoff and jitter. A download that breaks part way continues with `Range` from
//! the byte it had reached, so a cut connection costs the bytes in flight, not the blob.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{header, Method, StatusCode};
use url::Url;

use super::{Request, Response, Transport, UploadStream};
use crate::error::Error;
use crate::redact;

/// Silence after which a transfer is given up, unless the user says otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Redirects followed for one request; blob downloads take one or two.
const MAX_REDIRECTS: usize = 10;
/// Tries of a request that can be repeated (the first one included), unless told otherwise.
pub const DEFAULT_TRIES: u32 = 5;
/// Longest `Retry-After` honoured; a registry asking for more gets the error instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The first wait between tries, doubled each time up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// reqwest-backed transport for the CLI and the server.
#[derive(Clone)]
pub struct Native {
    client: reqwest::Client,
    idle: Duration,
    tries: u32,
    hook: Option<super::RetryHook>,
}

impl std::fmt::Debug for Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Native").field("idle", &self.idle).field("tries", &self.tries).finish_non_exhaustive()
    }
}

impl Native {
    /// A transport that gives up after [`DEFAULT_IDLE_TIMEOUT`] of silence.
    pub fn new() -> Result<Native, Error> {
        Native::with_idle_timeout(DEFAULT_IDLE_TIMEOUT)
    }

    /// A transport that gives up on a connection that sends (or takes) nothing for `idle`.
    pub fn with_idle_timeout(idle: Duration) -> Result<Native, Error> {
        Native::with_options(idle, DEFAULT_TRIES)
    }

    /// A transport with an idle timeout and a number of tries (at least one) for requests that
    /// can be repeated and for downloads that break part way.
    pub fn with_options(idle: Duration, tries: u32) -> Result<Native, Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("layerize/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(idle.min(Duration::from_secs(30)))
            .read_timeout(idle)
            .build()
            .map_err(|e| Error::Protocol {
                registry: "-".into(),
                message: format!("cannot set up HTTP client: {e}"),
            })?;
        Ok(Native { client, idle, tries: tries.max(1), hook: None })
    }

    /// Tells `hook` of every retry (progress reports show them).
    pub fn with_retry_hook(mut self, hook: super::RetryHook) -> Native {
        self.hook = Some(hook);
        self
    }

    fn note(&self, url: &Url, attempt: u32, reason: String) {
        if let Some(hook) = &self.hook {
            hook(&super::Retry { registry: registry_name(url), attempt, reason });
        }
    }

    /// One request, no redirects followed, no retries.
    async fn send_once(&self, request: Request) -> Result<Response, Error> {
        let url_text = redact::url(&request.url);
        let registry = registry_name(&request.url);
        let sent =
            self.client.request(request.method, request.url).headers(request.headers).body(request.body).send().await;
        let response = sent.map_err(|e| unreachable(&registry, &url_text, &e, self.idle))?;
        Ok(wrap(response, registry, url_text, self.idle))
    }

    /// One request with its redirects followed: any redirect of a GET or HEAD, and 307/308 of
    /// other methods (which keep method and body). `Authorization` is dropped at the first hop
    /// to another origin and never comes back.
    async fn follow(&self, mut request: Request) -> Result<Response, Error> {
        let mut redirects = 0;
        loop {
            let response = self.send_once(request.clone()).await?;
            let follows = match response.status {
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => true,
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER => {
                    request.method == Method::GET || request.method == Method::HEAD
                }
                _ => false,
            };
            let next = response.header("location").and_then(|l| response.url.join(l).ok());
            let Some(next) = next.filter(|_| follows) else { return Ok(response) };
            if next.scheme() != "http" && next.scheme() != "https" {
                return Err(Error::Protocol {
                    registry: registry_name(&request.url),
                    message: format!("{} redirected to a {} URL", redact::url(&request.url), next.scheme()),
                });
            }
            if redirects == MAX_REDIRECTS {
                return Err(Error::Protocol {
                    registry: registry_name(&request.url),
                    message: format!("{} redirected more than {MAX_REDIRECTS} times", redact::url(&request.url)),
                });
            }
            if next.origin() != request.url.origin() {
                request.headers.remove(header::AUTHORIZATION);
                request.headers.remove(header::COOKIE);
            }
            request.url = next;
            redirects += 1;
        }
    }
}

impl Transport for Native {
    async fn send(&self, request: Request) -> Result<Response, Error> {
        let repeatable = request.method == Method::GET || request.method == Method::HEAD;
        let mut tries = 1;
        loop {
            let result = self.follow(request.clone()).await;
            let wait = match &result {
                Err(Error::Unreachable { .. }) => Some(None),
                Ok(response) if retryable(response.status) => Some(retry_after(response)),
                _ => None,
            };
            let reason = match &result {
                Err(e) => e.to_string(),
                Ok(response) => format!("{} answered {}", registry_name(&request.url), response.status),
            };
            let Some(wait) = wait.filter(|_| repeatable && tries < self.tries) else {
                return match result {
                    Ok(response) if request.method == Method::GET && response.status == StatusCode::OK => {
                        Ok(self.resuming(request, response))
                    }
                    other => other,
                };
            };
            match wait {
                Some(after) if after > MAX_RETRY_AFTER => return result,
                Some(after) => tokio::time::sleep(after).await,
                None => tokio::time::sleep(backoff(tries)).await,
            }
            tracing::debug!(url = %redact::url(&request.url), tries, "retrying");
            tries += 1;
            self.note(&request.url, tries, reason);
        }
    }

    fn streams_uploads(&self) -> bool {
        true
    }

    fn tries(&self) -> u32 {
        self.tries
    }

    async fn pause(&self, tries: u32) {
        tokio::time::sleep(backoff(tries)).await;
    }

    fn note_retry(&self, retry: &super::Retry) {
        if let Some(hook) = &self.hook {
            hook(retry);
        }
    }

    /// reqwest wants a `Send` body; ours need not be (the browser's are not). A small channel
    /// bridges them: this task polls the body into the channel while reqwest sends from it. A
    /// channel that stays full for the idle timeout is a peer that stopped reading.
    async fn send_stream<'a>(&'a self, request: Request, body: UploadStream<'a>) -> Result<Response, Error> {
        let url_text = redact::url(&request.url);
        let registry = registry_name(&request.url);
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let chunks = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
        let send = self
            .client
            .request(request.method, request.url)
            .headers(request.headers)
            .body(reqwest::Body::wrap_stream(chunks))
            .send();
        let idle = self.idle;
        let (pump_registry, pump_url) = (registry.clone(), url_text.clone());
        // `async move`: the pump owns the sender, so the body ends when the pump does.
        let pump = async move {
            let mut body = body;
            while let Some(chunk) = body.next().await {
                match chunk {
                    // The request ended early (the server answered); its answer tells why.
                    Ok(bytes) => match tokio::time::timeout(idle, tx.send(Ok(bytes))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return Ok(()),
                        Err(_) => {
                            return Err(Error::Unreachable {
                                registry: pump_registry,
                                url: pump_url,
                                message: format!("the registry took no data for {}", seconds(idle)),
                            })
                        }
                    },
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
        let response = sent.map_err(|e| unreachable(&registry, &url_text, &e, idle))?;
        Ok(wrap(response, registry, url_text, idle))
    }
}

impl Native {
    /// The response with a body that, if the connection breaks part way, asks again for the
    /// rest (`Range: bytes=N-`) up to the transport's number of tries, so the bytes already
    /// received are not fetched twice. A server that ignores `Range` sends the whole body again
    /// and the bytes already passed on are skipped.
    fn resuming(&self, request: Request, response: Response) -> Response {
        let Response { status, headers, url, body } = response;
        let state = Resume { native: self.clone(), request, body, offset: 0, tries: 1, skip: 0 };
        let body = futures_util::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            loop {
                match state.body.next().await {
                    None => return None,
                    Some(Ok(mut chunk)) => {
                        if state.skip > 0 {
                            let drop = state.skip.min(chunk.len() as u64);
                            state.skip -= drop;
                            chunk = chunk.slice(drop as usize..);
                            if chunk.is_empty() {
                                continue;
                            }
                        }
                        state.offset += chunk.len() as u64;
                        return Some((Ok(chunk), Some(state)));
                    }
                    Some(Err(e)) if state.tries < state.native.tries => {
                        tracing::debug!(url = %redact::url(&state.request.url), offset = state.offset, "resuming a download");
                        tokio::time::sleep(backoff(state.tries)).await;
                        state.tries += 1;
                        let reason = format!("{e}; continuing from byte {}", state.offset);
                        state.native.note(&state.request.url, state.tries, reason);
                        match state.reopen().await {
                            Ok(()) => continue,
                            Err(_) if state.tries < state.native.tries => continue,
                            Err(_) => return Some((Err(e), None)),
                        }
                    }
                    Some(Err(e)) => return Some((Err(e), None)),
                }
            }
        });
        Response { status, headers, url, body: Box::pin(body) }
    }
}

/// Where a resumable download stands.
struct Resume {
    native: Native,
    request: Request,
    body: super::BodyStream,
    /// Bytes passed on so far.
    offset: u64,
    tries: u32,
    /// Bytes still to drop from a body the server sent from the start.
    skip: u64,
}

impl Resume {
    /// Asks for the rest of the body; an answer that cannot continue it leaves an empty body
    /// that fails, so the caller tries again or gives up.
    async fn reopen(&mut self) -> Result<(), Error> {
        let mut request = self.request.clone();
        request.headers.insert(
            header::RANGE,
            http::HeaderValue::from_str(&format!("bytes={}-", self.offset))
                .map_err(|e| Error::Protocol { registry: registry_name(&self.request.url), message: e.to_string() })?,
        );
        let failed = |message: String| Error::Unreachable {
            registry: registry_name(&self.request.url),
            url: redact::url(&self.request.url),
            message,
        };
        let response = self.native.follow(request).await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                self.body = Box::pin(futures_util::stream::iter([Err(e)]));
                return Err(failed("resuming the download failed".into()));
            }
        };
        let starts_at_offset = response
            .header("content-range")
            .and_then(|r| r.strip_prefix("bytes "))
            .and_then(|r| r.split('-').next())
            .and_then(|start| start.trim().parse::<u64>().ok())
            == Some(self.offset);
        match response.status {
            StatusCode::PARTIAL_CONTENT if starts_at_offset => {
                self.skip = 0;
                self.body = response.body;
                Ok(())
            }
            StatusCode::OK => {
                self.skip = self.offset;
                self.body = response.body;
                Ok(())
            }
            status => {
                let message = format!("resuming the download at byte {} got {status}", self.offset);
                self.body = Box::pin(futures_util::stream::iter([Err(failed(message.clone()))]));
                Err(failed(message))
            }
        }
    }
}

/// The wait before try `tries + 1`: doubling from [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`],
/// with up to half of it taken off at random so that many clients do not retry in step.
fn backoff(tries: u32) -> Duration {
    let full = FIRST_BACKOFF.saturating_mul(1 << tries.saturating_sub(1).min(16)).min(MAX_BACKOFF);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let jitter = u64::from(nanos % 1000) as f64 / 2000.0;
    full.mul_f64(1.0 - jitter)
}

/// Answers worth asking again: the registry was busy, overloaded or briefly broken.
fn retryable(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` in seconds (the HTTP-date form is not used by registries).
fn retry_after(response: &Response) -> Option<Duration> {
    response.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
}

/// The host (and port) a URL names, for messages.
fn registry_name(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => redact::url(url),
    }
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

fn unreachable(registry: &str, url: &str, e: &reqwest::Error, idle: Duration) -> Error {
    Error::Unreachable { registry: registry.to_owned(), url: url.to_owned(), message: describe(e, idle) }
}

/// Our response over reqwest's, with body errors worded like request errors.
fn wrap(response: reqwest::Response, registry: String, url_text: String, idle: Duration) -> Response {
    let status = response.status();
    let headers = response.headers().clone();
    let url = response.url().clone();
    let body = response.bytes_stream().map(move |chunk| chunk.map_err(|e| unreachable(&registry, &url_text, &e, idle)));
    Response { status, headers, url, body: Box::pin(body) }
}

/// The error and its causes ("connection refused"), without reqwest's copy of the URL,
/// which may carry upload state.
fn describe(e: &reqwest::Error, idle: Duration) -> String {
    if e.is_timeout() {
        return format!("no data for {} (the idle timeout; --timeout changes it)", seconds(idle));
    }
    let mut parts = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    let kind = if e.is_connect() {
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
