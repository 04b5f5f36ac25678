//! Reading from a registry: manifests and configs as raw, verified bytes; blobs as verified
//! streams.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http::{header, HeaderValue, Method, StatusCode};
use layerize_core::config::Config;
use layerize_core::digest::HeldBack;
use layerize_core::manifest::{ImageManifest, Manifest};
use layerize_core::media_type::MANIFEST_ACCEPT;
use layerize_core::{Digest, Reference};

use crate::auth::Scope;
use crate::client::Client;
use crate::error::Error;
use crate::transport::{BodyStream, Request, Transport, PROXY_CHECKED_DIGEST};

/// Where and how to GET a blob without this client; see [`Client::blob_access`].
#[derive(Clone)]
pub struct BlobAccess {
    pub url: url::Url,
    /// A secret (a token or basic credentials): send it only to `url`'s registry.
    pub authorization: Option<String>,
}

impl std::fmt::Debug for BlobAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobAccess")
            .field("url", &crate::redact::url(&self.url))
            .field("authorization", &self.authorization.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Manifest bytes exactly as served, with the `Content-Type` the registry gave.
#[derive(Clone, Debug)]
pub struct FetchedManifest {
    pub raw: Vec<u8>,
    pub content_type: Option<String>,
    pub digest: Digest,
}

impl<T: Transport> Client<T> {
    /// Fetches a manifest by tag or digest, accepting Docker and OCI manifests and indexes.
    /// A manifest fetched by digest must hash to that digest.
    pub async fn manifest(&self, repository: &str, selector: &str) -> Result<FetchedManifest, Error> {
        let what = format!("manifest {}/{repository}:{selector}", self.registry());
        let url = self.url(&format!("v2/{repository}/manifests/{selector}"))?;
        let mut request = Request::new(Method::GET, url);
        request.headers.insert(header::ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        let response = self.send(request, &[Scope::pull(repository)], &format!("pulling {repository}")).await?;
        if response.status != StatusCode::OK {
            return Err(self.fail(response, &what).await);
        }
        let content_type = response.header("content-type").map(str::to_owned);
        let raw = self.read_document(response, &what).await?.to_vec();
        let digest = Digest::sha256(&raw);
        if let Ok(expected) = selector.parse::<Digest>() {
            if expected != digest {
                return Err(Error::DigestMismatch {
                    registry: self.registry().to_owned(),
                    what,
                    expected,
                    found: digest,
                });
            }
        }
        Ok(FetchedManifest { raw, content_type, digest })
    }

    /// The manifest a reference names (its digest if pinned, else its tag).
    pub async fn manifest_for(&self, reference: &Reference) -> Result<FetchedManifest, Error> {
        self.manifest(reference.repository(), reference.selector()).await
    }

    /// Fetches and parses the manifest a reference names.
    pub async fn resolve(&self, reference: &Reference) -> Result<Manifest, Error> {
        let fetched = self.manifest_for(reference).await?;
        Ok(Manifest::parse(&reference.to_string(), fetched.raw, fetched.content_type.as_deref())?)
    }

    /// The image manifest at `digest` (an entry of an index). An index inside an index is
    /// refused: no runtime picks images that way.
    pub async fn image_manifest(&self, repository: &str, digest: &Digest) -> Result<ImageManifest, Error> {
        let fetched = self.manifest(repository, digest.as_str()).await?;
        let what = format!("{}/{repository}@{digest}", self.registry());
        match Manifest::parse(&what, fetched.raw, fetched.content_type.as_deref())? {
            Manifest::Image(m) => Ok(m),
            Manifest::Index(_) => Err(Error::Protocol {
                registry: self.registry().to_owned(),
                message: format!("{what} is an index inside an index, which is not supported"),
            }),
        }
    }

    /// The config of an image, verified and parsed.
    pub async fn config(&self, repository: &str, manifest: &ImageManifest) -> Result<Config, Error> {
        let raw = self.blob_bytes(repository, &manifest.config.digest).await?;
        Ok(Config::parse(&manifest.config.digest.to_string(), raw)?)
    }

    /// A whole small blob (a config), verified against its digest.
    pub async fn blob_bytes(&self, repository: &str, digest: &Digest) -> Result<Vec<u8>, Error> {
        let response = self.blob_response(repository, digest).await?;
        let what = format!("blob {digest}");
        let bytes = self.read_document(response, &what).await?.to_vec();
        let found = Digest::sha256(&bytes);
        if &found != digest {
            return Err(Error::DigestMismatch {
                registry: self.registry().to_owned(),
                what,
                expected: digest.clone(),
                found,
            });
        }
        Ok(bytes)
    }

    /// A blob as a stream. The stream ends with an error instead of its last chunk if the
    /// bytes do not hash to `digest`, so a consumer can never mistake bad data for good. Through
    /// the page's proxy, which checks the digest itself and says so, the bytes are not hashed
    /// again (SHA-256 in wasm is slow; see [`Transport::proxy_checks_blobs`]).
    pub async fn blob(&self, repository: &str, digest: &Digest) -> Result<BodyStream, Error> {
        let response = self.blob_response(repository, digest).await?;
        let vouched = response.headers.get(PROXY_CHECKED_DIGEST).and_then(|v| v.to_str().ok()) == Some(digest.as_str());
        if vouched && self.proxy_checks_blobs() {
            return Ok(response.body);
        }
        Ok(Box::pin(Verified {
            inner: response.body,
            check: HeldBack::new(digest.clone()),
            registry: self.registry().to_owned(),
        }))
    }

    /// A blob's bytes from `offset` on (`Range: bytes=offset-`), unchecked: for a sink that
    /// hashes what it writes (the store, an archive) and may continue what an earlier run left.
    /// From 0 too: hashing here as well would double the CPU a pull spends on SHA-256, which is
    /// most of it. A registry that ignores `Range` sends everything, and the first `offset`
    /// bytes are dropped here.
    pub async fn blob_from(&self, repository: &str, digest: &Digest, offset: u64) -> Result<BodyStream, Error> {
        if offset == 0 {
            return Ok(self.blob_response(repository, digest).await?.body);
        }
        let url = self.url(&format!("v2/{repository}/blobs/{digest}"))?;
        let mut request = Request::new(Method::GET, url);
        request.headers.insert(
            header::RANGE,
            HeaderValue::from_str(&format!("bytes={offset}-"))
                .map_err(|e| Error::Protocol { registry: self.registry().to_owned(), message: e.to_string() })?,
        );
        let response = self.send(request, &[Scope::pull(repository)], &format!("pulling {repository}")).await?;
        match response.status {
            StatusCode::PARTIAL_CONTENT => Ok(response.body),
            StatusCode::OK => Ok(crate::copy::skip(response.body, offset)),
            _ => Err(self.fail(response, &format!("blob {digest} in {repository} from byte {offset}")).await),
        }
    }

    async fn blob_response(&self, repository: &str, digest: &Digest) -> Result<crate::transport::Response, Error> {
        let url = self.url(&format!("v2/{repository}/blobs/{digest}"))?;
        let response = self
            .send(Request::new(Method::GET, url), &[Scope::pull(repository)], &format!("pulling {repository}"))
            .await?;
        if response.status != StatusCode::OK {
            return Err(self.fail(response, &format!("blob {digest} in {repository}")).await);
        }
        Ok(response)
    }

    /// What a reader that cannot run this client needs to fetch blob `digest` itself with
    /// plain GETs: its URL and the Authorization header for pulling it. The page's layer reads
    /// run in workers that block (the core's reader pulls bytes), so a second worker downloads
    /// the blob for them with its own `fetch`. Checks the blob is there (`HEAD`) first, which
    /// also fetches any token the pull needs.
    pub async fn blob_access(&self, repository: &str, digest: &Digest) -> Result<BlobAccess, Error> {
        let url = self.url(&format!("v2/{repository}/blobs/{digest}"))?;
        let scopes = [Scope::pull(repository)];
        let response =
            self.send(Request::new(Method::HEAD, url.clone()), &scopes, &format!("pulling {repository}")).await?;
        if response.status != StatusCode::OK {
            return Err(self.fail(response, &format!("blob {digest} in {repository}")).await);
        }
        Ok(BlobAccess { url, authorization: self.authorization(&scopes) })
    }

    /// Whether the repository has the blob (`HEAD`).
    pub async fn blob_exists(&self, repository: &str, digest: &Digest, scopes: &[Scope]) -> Result<bool, Error> {
        let url = self.url(&format!("v2/{repository}/blobs/{digest}"))?;
        let response = self.send(Request::new(Method::HEAD, url), scopes, &format!("checking {repository}")).await?;
        match response.status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.fail(response, &format!("blob {digest} in {repository}")).await),
        }
    }
}

/// Hashes a blob stream as it passes; holds back the last chunk until the digest checks.
struct Verified {
    inner: BodyStream,
    check: HeldBack<Bytes>,
    registry: String,
}

impl Stream for Verified {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // The inner stream has ended (the check is finished then): polling it again would
        // panic for streams that are not fused, as the browser transport's is not.
        if self.check.ended() {
            return Poll::Ready(None);
        }
        loop {
            match self.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some(previous) = self.check.push(chunk) {
                        return Poll::Ready(Some(Ok(previous)));
                    }
                }
                Poll::Ready(None) => {
                    return match self.check.finish() {
                        Ok(last) => Poll::Ready(last.map(Ok)),
                        Err(found) => Poll::Ready(Some(Err(Error::DigestMismatch {
                            registry: self.registry.clone(),
                            what: "blob".into(),
                            expected: self.check.expected().clone(),
                            found,
                        }))),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::task::Waker;

    use futures_util::stream;

    use super::*;

    fn verified(chunks: Vec<&'static [u8]>, expected: Digest) -> Verified {
        // `unfold` panics when polled after its end, as the browser transport's body does.
        let inner = stream::unfold(chunks.into_iter(), |mut rest| async move {
            rest.next().map(|c| (Ok(Bytes::from_static(c)), rest))
        });
        Verified { inner: Box::pin(inner), check: HeldBack::new(expected), registry: "r".into() }
    }

    fn drain(mut s: Verified) -> Vec<Result<Bytes, Error>> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut out = Vec::new();
        // One poll more than the items: the end must be reported again, not polled through.
        for _ in 0..2 {
            while let Poll::Ready(Some(item)) = Pin::new(&mut s).poll_next(&mut cx) {
                out.push(item);
            }
        }
        out
    }

    /// Answers every request with a blob whose bytes are not those of `digest`, labelled as
    /// checked against `digest` (what a hostile registry could send a client that believed it).
    struct Labelled {
        digest: Digest,
        through_proxy: bool,
    }

    impl Transport for Labelled {
        async fn send(&self, request: Request) -> Result<crate::transport::Response, Error> {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                PROXY_CHECKED_DIGEST,
                HeaderValue::from_str(self.digest.as_str()).unwrap_or_else(|e| panic!("{e}")),
            );
            let body: BodyStream = Box::pin(stream::iter([Ok(Bytes::from_static(b"not the blob"))]));
            Ok(crate::transport::Response { status: StatusCode::OK, headers, url: request.url, body })
        }

        fn proxy_checks_blobs(&self) -> bool {
            self.through_proxy
        }
    }

    async fn pulled(through_proxy: bool) -> Vec<Result<Bytes, Error>> {
        use futures_util::StreamExt;
        let digest = Digest::sha256(b"the blob");
        let base = url::Url::parse("http://r.example/").unwrap_or_else(|e| panic!("{e}"));
        let client = Client::with_base_url(Labelled { digest: digest.clone(), through_proxy }, "r.example", base, None);
        client.blob("repo", &digest).await.unwrap_or_else(|e| panic!("{e}")).collect().await
    }

    #[test]
    fn only_a_proxied_client_believes_the_checked_digest_header() {
        let run = |through_proxy| futures_executor(pulled(through_proxy));
        let direct = run(false);
        assert!(
            matches!(direct.last(), Some(Err(Error::DigestMismatch { .. }))),
            "a registry's own label is not believed: {direct:?}"
        );
        let proxied = run(true);
        assert!(
            proxied.iter().all(Result::is_ok),
            "through the proxy the label stands (the proxy cut a wrong blob short): {proxied:?}"
        );
    }

    /// Polls a future that never waits (the test transport answers at once) to its end.
    pub(crate) fn futures_executor<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }

    #[test]
    fn a_verified_stream_ends_once_and_stays_ended() {
        let good = drain(verified(vec![b"ab", b"c"], Digest::sha256(b"abc")));
        assert_eq!(
            good.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [Bytes::from_static(b"ab"), Bytes::from_static(b"c")]
        );
        let bad = drain(verified(vec![b"ab", b"c"], Digest::sha256(b"abd")));
        assert_eq!(bad.len(), 2);
        assert!(matches!(bad[1], Err(Error::DigestMismatch { .. })), "{:?}", bad[1]);
    }
}
