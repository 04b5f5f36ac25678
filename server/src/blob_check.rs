//! Whole blob downloads the proxy checks against the digest in their URL.
//!
//! The page must hold every layer it reads to its digest, and SHA-256 in wasm is slow (~220
//! MB/s; a 200 MiB layer spends longer hashing than inflating). The server hashes natively as
//! the bytes pass, holds back the last chunk until the digest matches, and ends the response
//! with an error instead of it when not, so the page never receives all of a wrong blob. It
//! says so in [`CHECKED`], which carries the digest it checked; the page (served by this same
//! server, so trusting it changes nothing) then skips its own hash. Range requests and
//! anything but `GET …/blobs/sha256:…` pass unchecked and unlabelled.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderValue, Method, StatusCode};
use layerize_core::digest::HeldBack;
use layerize_core::Digest;
use url::Url;

/// Response header naming the digest the proxy checked the body against.
pub const CHECKED: &str = layerize_registry::transport::PROXY_CHECKED_DIGEST;

/// The digest a `GET` of `url` must hash to, when the proxy checks it: a whole (not ranged)
/// blob fetch under `/v2/…/blobs/sha256:…`.
pub fn expected(method: &Method, url: &Url, ranged: bool) -> Option<Digest> {
    if method != Method::GET || ranged {
        return None;
    }
    let path = url.path();
    let (repository, digest) = path.strip_prefix("/v2/")?.rsplit_once("/blobs/")?;
    if repository.is_empty() || !digest.starts_with("sha256:") {
        return None;
    }
    digest.parse().ok()
}

/// Whether an answer of `status` carries the whole blob (so it can be checked).
pub fn whole(status: StatusCode) -> bool {
    status == StatusCode::OK
}

/// The [`CHECKED`] value for `digest`.
pub fn header(digest: &Digest) -> Option<HeaderValue> {
    HeaderValue::from_str(digest.as_str()).ok()
}

/// A body stream hashed as it passes; its last chunk is held back until the digest checks.
pub struct Checked<S> {
    inner: S,
    check: HeldBack<Bytes>,
}

impl<S> std::fmt::Debug for Checked<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checked").field("expected", self.check.expected()).finish_non_exhaustive()
    }
}

impl<S> Checked<S> {
    pub fn new(inner: S, expected: Digest) -> Checked<S> {
        Checked { inner, check: HeldBack::new(expected) }
    }
}

impl<S, E> Stream for Checked<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    type Item = Result<Bytes, Box<dyn std::error::Error + Send + Sync>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.check.ended() {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    // Nothing more is passed on after an upstream failure.
                    let _ = this.check.finish();
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some(previous) = this.check.push(chunk) {
                        return Poll::Ready(Some(Ok(previous)));
                    }
                }
                Poll::Ready(None) => {
                    return match this.check.finish() {
                        Ok(last) => Poll::Ready(last.map(Ok)),
                        Err(_) => {
                            let message = format!("the blob does not match its digest {}", this.check.expected());
                            tracing::warn!(expected = %this.check.expected(), "{message}");
                            Poll::Ready(Some(Err(message.into())))
                        }
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{stream, StreamExt};

    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn passes_a_matching_blob_and_cuts_a_wrong_one_short() {
        let digest = Digest::sha256(b"hello world");
        let out: Vec<_> = Checked::new(chunks(&[b"hello", b" ", b"world"]), digest.clone()).collect().await;
        let bytes: Vec<u8> = out.into_iter().flat_map(|c| c.unwrap_or_else(|e| panic!("{e}")).to_vec()).collect();
        assert_eq!(bytes, b"hello world");

        let out: Vec<_> = Checked::new(chunks(&[b"hello", b" ", b"w0rld"]), digest).collect().await;
        assert_eq!(out.len(), 3, "two chunks, then the error instead of the last");
        assert!(out[2].as_ref().is_err_and(|e| e.to_string().contains("does not match")));
    }

    #[test]
    fn checks_only_whole_sha256_blob_gets() {
        let url = |p: &str| Url::parse(&format!("http://r.example{p}")).unwrap_or_else(|e| panic!("{e}"));
        let hex = "a".repeat(64);
        let blob = url(&format!("/v2/library/alpine/blobs/sha256:{hex}"));
        assert_eq!(expected(&Method::GET, &blob, false).map(|d| d.to_string()), Some(format!("sha256:{hex}")));
        assert_eq!(expected(&Method::GET, &blob, true), None, "ranged");
        assert_eq!(expected(&Method::HEAD, &blob, false), None);
        assert_eq!(expected(&Method::GET, &url(&format!("/v2/a/manifests/sha256:{hex}")), false), None);
        assert_eq!(expected(&Method::GET, &url("/v2/a/blobs/uploads/"), false), None);
        assert_eq!(expected(&Method::GET, &url(&format!("/v2/a/blobs/sha512:{hex}")), false), None);
    }
}
