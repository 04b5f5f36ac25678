//! How requests reach a registry. Protocol code builds a [`Request`] and gets back status,
//! headers and a body stream; it never knows whether reqwest or the browser's `fetch`
//! (through the proxy) carried it.

#[cfg(target_arch = "wasm32")]
pub mod browser;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod proxy;

use std::future::Future;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, Method, StatusCode};
use url::Url;

use crate::error::Error;

/// The header the page's proxy carries a registry's `WWW-Authenticate` in. Browsers answer a
/// `Basic` challenge on a fetch with their own login prompt (and a headless one waits for it
/// forever), so the proxy renames the header and the browser transport names it back.
pub const PROXIED_CHALLENGE: &str = "x-registry-www-authenticate";

/// The header in which the page's proxy names the digest it checked a whole blob download
/// against (it ends the body with an error instead of passing a blob that does not match).
pub const PROXY_CHECKED_DIGEST: &str = "x-layerize-checked-digest";

/// A response body, chunk by chunk. Not `Send`: browser streams are not.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, Error>>>>;

/// One HTTP request. Bodies are whole `Bytes` (upload chunks are at most
/// [`crate::CHUNK_SIZE`]), so a request can be sent again after a 401 without having
/// consumed anything.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn new(method: Method, url: Url) -> Request {
        Request { method, url, headers: HeaderMap::new(), body: Bytes::new() }
    }
}

/// A response whose body has not been read yet.
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The URL that answered, after redirects: relative `Location`s resolve against it.
    pub url: Url,
    pub body: BodyStream,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response").field("status", &self.status).field("url", &crate::redact::url(&self.url)).finish()
    }
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub async fn bytes(mut self, limit: usize, too_large: impl FnOnce() -> Error) -> Result<Bytes, Error> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.body.next().await {
            let chunk = chunk?;
            if buf.len() + chunk.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

/// A request body produced while it is sent (a blob streamed from disk or another registry).
pub type UploadStream<'a> = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + 'a>>;

/// A request or transfer tried again after a failure, for progress reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    /// The registry (host and port) that failed.
    pub registry: String,
    /// The try about to start (2 for the first retry).
    pub attempt: u32,
    /// What went wrong, in words (never a credential or a URL's query).
    pub reason: String,
}

/// Told of every [`Retry`]; shared by the requests of one command.
pub type RetryHook = std::sync::Arc<dyn Fn(&Retry) + Send + Sync>;

/// Carries requests. Implementations follow redirects (without forwarding `Authorization`
/// to another host) and report network failures as [`Error::Unreachable`].
pub trait Transport {
    fn send(&self, request: Request) -> impl Future<Output = Result<Response, Error>>;

    /// Whether [`Transport::send_stream`] works. Blob uploads then go in one streamed
    /// `PATCH` instead of [`crate::CHUNK_SIZE`] pieces, which registries take much faster.
    fn streams_uploads(&self) -> bool {
        false
    }

    /// Whether answers come through the page's own proxy, which checks whole blob downloads
    /// against their digest (cutting a wrong one short) and says so in [`PROXY_CHECKED_DIGEST`],
    /// a header it never takes from a registry. Only then may that header be believed: a
    /// registry reached directly, or another proxy, could send it about anything (see
    /// [`proxy::Proxy`]).
    fn proxy_checks_blobs(&self) -> bool {
        false
    }

    /// How many times a broken upload or download is tried in all (the first included).
    fn tries(&self) -> u32 {
        1
    }

    /// Waits before try `tries + 1` of something that failed (backoff with jitter).
    fn pause(&self, _tries: u32) -> impl Future<Output = ()> {
        std::future::ready(())
    }

    /// Tells whoever follows progress that something is tried again.
    fn note_retry(&self, _retry: &Retry) {}

    /// Sends `request` with `body` as its body, streamed as it is produced. The body cannot
    /// be sent twice, so callers must not retry. An error from `body` is returned as it is.
    fn send_stream<'a>(
        &'a self,
        request: Request,
        body: UploadStream<'a>,
    ) -> impl Future<Output = Result<Response, Error>> + 'a {
        drop(body);
        let registry = request.url.host_str().unwrap_or_default().to_owned();
        async move { Err(Error::Protocol { registry, message: "this transport cannot stream request bodies".into() }) }
    }
}

impl<T: Transport> Transport for &T {
    fn send(&self, request: Request) -> impl Future<Output = Result<Response, Error>> {
        (**self).send(request)
    }

    fn streams_uploads(&self) -> bool {
        (**self).streams_uploads()
    }

    fn proxy_checks_blobs(&self) -> bool {
        (**self).proxy_checks_blobs()
    }

    fn tries(&self) -> u32 {
        (**self).tries()
    }

    fn pause(&self, tries: u32) -> impl Future<Output = ()> {
        (**self).pause(tries)
    }

    fn note_retry(&self, retry: &Retry) {
        (**self).note_retry(retry)
    }

    fn send_stream<'a>(
        &'a self,
        request: Request,
        body: UploadStream<'a>,
    ) -> impl Future<Output = Result<Response, Error>> + 'a {
        (**self).send_stream(request, body)
    }
}
