//! The browser transport: `fetch` (through gloo-net) to the layerize server's proxy, because
//! registries send no CORS headers. Works on a page and in a Web Worker.
//!
//! A request for `https://ghcr.io/v2/…?q` goes to `{proxy}/proxy/https/ghcr.io/v2/…?q` (see
//! [`Proxy::proxied`]). The response keeps the registry URL as its `url`, so upload
//! `Location`s (absolute registry URLs) resolve as they would natively and are mapped onto the
//! proxy again on the next request.

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use js_sys::{Reflect, Uint8Array};
use url::Url;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::ReadableStreamDefaultReader;

use super::proxy::{Proxy, Vouching};
use super::{BodyStream, Request, Response, Transport};
use crate::error::Error;
use crate::redact;

/// Sends requests through a layerize proxy; told at construction whether it is the page's own
/// (see [`Proxy`]), which decides whether its word on a blob's digest counts.
#[derive(Clone, Debug)]
pub struct Browser {
    proxy: Proxy,
}

impl Browser {
    pub fn new(proxy: Proxy) -> Browser {
        Browser { proxy }
    }

    /// The proxy URL for a registry URL.
    pub fn proxied(&self, url: &Url) -> String {
        self.proxy.proxied(url)
    }

    /// Whether a download's "checked" label from this proxy is believed.
    pub fn vouching(&self) -> Vouching {
        self.proxy.vouching()
    }
}

impl Transport for Browser {
    /// Only the page's own proxy is believed (see [`Proxy`]).
    fn proxy_checks_blobs(&self) -> bool {
        self.proxy.vouching() == Vouching::Believed
    }

    async fn send(&self, request: Request) -> Result<Response, Error> {
        let registry = request.url.host_str().unwrap_or_default().to_owned();
        let shown = redact::url(&request.url);
        let unreachable =
            |message: String| Error::Unreachable { registry: registry.clone(), url: shown.clone(), message };
        let mut builder = gloo_net::http::RequestBuilder::new(&self.proxied(&request.url)).method(
            request
                .method
                .as_str()
                .parse()
                .map_err(|_| unreachable(format!("method {} unsupported", request.method)))?,
        );
        for (name, value) in &request.headers {
            // The browser sets Content-Length itself and refuses to let a page set it.
            if name == http::header::CONTENT_LENGTH {
                continue;
            }
            if let Ok(v) = value.to_str() {
                builder = builder.header(name.as_str(), v);
            }
        }
        let built =
            if request.body.is_empty() { builder.build() } else { builder.body(Uint8Array::from(&request.body[..])) };
        let built = built.map_err(|e| unreachable(e.to_string()))?;
        let response = built.send().await.map_err(|e| unreachable(e.to_string()))?;
        let status = StatusCode::from_u16(response.status()).map_err(|e| unreachable(e.to_string()))?;
        let mut headers = HeaderMap::new();
        for (name, value) in response.headers().entries() {
            let name =
                if name.eq_ignore_ascii_case(super::PROXIED_CHALLENGE) { "www-authenticate".to_owned() } else { name };
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
                headers.append(n, v);
            }
        }
        let body: BodyStream = match response.body() {
            None => Box::pin(stream::empty()),
            Some(readable) => {
                let reader: ReadableStreamDefaultReader = readable.get_reader().unchecked_into();
                Box::pin(stream::unfold(Some(reader), move |reader| {
                    let registry = registry.clone();
                    let shown = shown.clone();
                    async move {
                        let reader = reader?;
                        let fail = |message: String| Error::Unreachable { registry, url: shown, message };
                        match JsFuture::from(reader.read()).await {
                            Err(e) => Some((Err(fail(format!("{e:?}"))), None)),
                            Ok(step) => {
                                let done =
                                    Reflect::get(&step, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true);
                                if done {
                                    return None;
                                }
                                let chunk: Uint8Array = Reflect::get(&step, &"value".into()).ok()?.unchecked_into();
                                Some((Ok(Bytes::from(chunk.to_vec())), Some(reader)))
                            }
                        }
                    }
                }))
            }
        };
        Ok(Response { status, headers, url: request.url, body })
    }
}
