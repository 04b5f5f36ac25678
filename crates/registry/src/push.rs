//! Writing to a registry: blobs (skip if present, mount within the registry, else upload)
//! and manifests.
//!
//! Upload protocol: `POST /blobs/uploads/` → `202 Location`; then, where the transport can
//! stream a request body (natively), one `PATCH Location` carrying the whole blob; else
//! `PATCH Location` with `Content-Range: start-end` (no `bytes ` prefix, inclusive end), at
//! most [`crate::CHUNK_SIZE`] each (or the registry's `OCI-Chunk-Min-Length`), always following the latest `Location` (resolved against
//! the URL that answered); `PUT Location?digest=…` to commit. The digest is known before the
//! upload ([`Client::push_blob`]) or computed from the bytes as they are sent, for a blob
//! made on the way (a layer compressed while it uploads: [`Client::upload_hashed_blob`]).

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::{header, HeaderValue, Method, StatusCode};
use layerize_core::digest::Hasher;
use layerize_core::{Digest, MediaType};
use url::Url;

use crate::auth::Scope;
use crate::client::Client;
use crate::error::Error;
use crate::transport::{Request, Response, Transport};

/// Where the bytes of a blob to upload come from, opened only when an upload is needed.
pub trait BlobSource {
    type Stream: Stream<Item = Result<Bytes, Error>> + Unpin;
    fn open(self) -> impl std::future::Future<Output = Result<Self::Stream, Error>>;

    /// The bytes again from `offset`, for an upload that broke part way and continues where
    /// the registry says it stands; `None` for bytes that cannot be read twice (a layer built
    /// while it uploads), whose upload then fails with the break.
    fn reopen(&self, _offset: u64) -> impl std::future::Future<Output = Result<Option<Self::Stream>, Error>> {
        std::future::ready(Ok(None))
    }
}

/// Remembers unfinished uploads across runs (the store keeps them), so a rerun of a killed
/// push continues an upload the registry still holds instead of sending every byte again.
pub trait UploadJournal {
    /// The upload of `digest` to `repository` started earlier, if one is remembered.
    fn find(&self, registry: &str, repository: &str, digest: &Digest) -> Option<Url>;
    /// Remembers where the upload of `digest` is sent.
    fn started(&self, registry: &str, repository: &str, digest: &Digest, location: &Url);
    /// Forgets it: committed, or no longer held by the registry.
    fn finished(&self, registry: &str, repository: &str, digest: &Digest);
}

/// What happened to a blob on push, for progress reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobOutcome {
    AlreadyThere,
    Mounted,
    Uploaded,
}

impl<T: Transport> Client<T> {
    /// Makes sure `repository` has the blob: nothing if it is there, a cross-repository mount
    /// from `mount_from` (same registry) if that works, else an upload from `source`.
    pub async fn push_blob<S: BlobSource>(
        &self,
        repository: &str,
        digest: &Digest,
        mount_from: Option<&str>,
        source: S,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BlobOutcome, Error> {
        let scopes = push_scopes(repository, mount_from);
        if self.blob_exists(repository, digest, &scopes).await? {
            return Ok(BlobOutcome::AlreadyThere);
        }
        let location = match mount_from.filter(|from| *from != repository) {
            Some(from) => {
                let mut url = self.url(&format!("v2/{repository}/blobs/uploads/"))?;
                url.query_pairs_mut().append_pair("mount", digest.as_str()).append_pair("from", from);
                let response =
                    self.send(Request::new(Method::POST, url), &scopes, &format!("pushing to {repository}")).await?;
                match response.status {
                    StatusCode::CREATED => return Ok(BlobOutcome::Mounted),
                    StatusCode::ACCEPTED => self.location(&response)?,
                    _ => {
                        return Err(self
                            .fail(response, &format!("mounting {digest} from {from} into {repository}"))
                            .await)
                    }
                }
            }
            None => {
                // An upload this blob left unfinished in an earlier run, if the registry still
                // holds it: continue from where it stands.
                if let Some((location, offset)) = self.remembered_upload(repository, digest, &scopes).await {
                    if let Some(stream) = source.reopen(offset).await? {
                        progress(offset);
                        let mut from = |n: u64| progress(offset + n);
                        self.upload_resuming(repository, &scopes, location, digest, stream, &source, &mut from).await?;
                        self.forget_upload(repository, digest);
                        return Ok(BlobOutcome::Uploaded);
                    }
                }
                self.start_upload(repository, &scopes).await?
            }
        };
        self.remember_upload(repository, digest, &location);
        match source.reopen(0).await? {
            Some(stream) => {
                self.upload_resuming(repository, &scopes, location, digest, stream, &source, progress).await?;
            }
            None => {
                let stream = source.open().await?;
                self.upload(repository, &scopes, location, digest, stream, progress).await?;
            }
        }
        self.forget_upload(repository, digest);
        Ok(BlobOutcome::Uploaded)
    }

    /// Sends the blob to `location` and commits it; when the transfer breaks (the connection,
    /// a timeout, a 5xx, 408 or 429, an expired token), asks the registry where the upload
    /// stands (`GET` on it: its `Range`) and sends the rest from there, up to the transport's
    /// number of tries. An upload the registry no longer holds starts again from byte 0.
    #[allow(clippy::too_many_arguments)]
    async fn upload_resuming<S: BlobSource>(
        &self,
        repository: &str,
        scopes: &[Scope],
        mut location: Url,
        digest: &Digest,
        mut stream: S::Stream,
        source: &S,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), Error> {
        let action = format!("uploading {digest} to {repository}");
        let mut offset = 0u64;
        let mut tries = 1;
        loop {
            let sent = {
                let mut from = |n: u64| progress(offset + n);
                self.send_blob(scopes, location.clone(), stream, &mut from, &action).await
            };
            let failure = match sent {
                Ok(at) => match self.commit(scopes, at, digest, &action).await {
                    Ok(()) => return Ok(()),
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if !worth_resuming(&failure) || tries >= self.tries() {
                return Err(failure);
            }
            self.pause(tries).await;
            tries += 1;
            self.note_retry(tries, format!("{failure}; asking the registry where the upload of {digest} stands"));
            (location, offset) = match self.upload_status(scopes, &location).await {
                Some(stands) => stands,
                None => (self.start_upload(repository, scopes).await?, 0),
            };
            self.remember_upload(repository, digest, &location);
            stream = match source.reopen(offset).await? {
                Some(stream) => stream,
                None => return Err(failure),
            };
            progress(offset);
        }
    }

    /// Where an upload stands: its next `Location` and the bytes the registry holds, from
    /// `GET` on it (`204` with `Range: 0-N`); `None` if it is gone or says nothing usable.
    async fn upload_status(&self, scopes: &[Scope], location: &Url) -> Option<(Url, u64)> {
        let response =
            self.send(Request::new(Method::GET, location.clone()), scopes, "checking an upload").await.ok()?;
        if response.status != StatusCode::NO_CONTENT {
            return None;
        }
        let next = self.location(&response).unwrap_or_else(|_| location.clone());
        let end = response.header("range")?.trim().strip_prefix("0-")?.parse::<u64>().ok()?;
        // `0-0` is what distribution answers for an empty upload (and for one byte): start again.
        (end > 0).then_some((next, end + 1))
    }

    async fn remembered_upload(&self, repository: &str, digest: &Digest, scopes: &[Scope]) -> Option<(Url, u64)> {
        let location = self.journal()?.find(self.registry(), repository, digest)?;
        let stands = self.upload_status(scopes, &location).await;
        if stands.is_none() {
            self.forget_upload(repository, digest);
        }
        stands
    }

    fn remember_upload(&self, repository: &str, digest: &Digest, location: &Url) {
        if let Some(journal) = self.journal() {
            journal.started(self.registry(), repository, digest, location);
        }
    }

    fn forget_upload(&self, repository: &str, digest: &Digest) {
        if let Some(journal) = self.journal() {
            journal.finished(self.registry(), repository, digest);
        }
    }

    async fn start_upload(&self, repository: &str, scopes: &[Scope]) -> Result<Url, Error> {
        let url = self.url(&format!("v2/{repository}/blobs/uploads/"))?;
        let response = self.send(Request::new(Method::POST, url), scopes, &format!("pushing to {repository}")).await?;
        if response.status != StatusCode::ACCEPTED {
            return Err(self.fail(response, &format!("starting an upload to {repository}")).await);
        }
        // A registry that wants bigger chunks says so (distribution spec 1.1); chunks are then
        // at least that big (the streamed PATCH of the native transport is one chunk anyway).
        if let Some(min) = response.header("oci-chunk-min-length").and_then(|v| v.trim().parse::<usize>().ok()) {
            self.chunk_size.set(min.clamp(crate::CHUNK_SIZE, MAX_CHUNK));
        }
        self.location(&response)
    }

    /// Uploads a blob whose digest is known only once its last byte is read (one produced
    /// while it uploads, such as a layer compressed on the way): a new upload, the bytes from
    /// `source` hashed and counted as they are sent, then the commit under the digest they
    /// hash to. Returns that digest and the size. Nothing is looked up or mounted first,
    /// since the digest is not known; a `source` that fails part way aborts the upload
    /// before the commit, so no blob appears.
    pub async fn upload_hashed_blob<S: BlobSource>(
        &self,
        repository: &str,
        source: S,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Digest, u64), Error> {
        let scopes = push_scopes(repository, None);
        let location = self.start_upload(repository, &scopes).await?;
        let stream = source.open().await?;
        let mut hasher = Hasher::new();
        let hashed = stream.inspect(|chunk| {
            if let Ok(bytes) = chunk {
                hasher.update(bytes);
            }
        });
        let action = format!("uploading a blob to {repository}");
        let location = self.send_blob(&scopes, location, hashed, progress, &action).await?;
        let size = hasher.len();
        let digest = hasher.finish();
        self.commit(&scopes, location, &digest, &format!("uploading {digest} to {repository}")).await?;
        Ok((digest, size))
    }

    async fn upload(
        &self,
        repository: &str,
        scopes: &[Scope],
        location: Url,
        digest: &Digest,
        stream: impl Stream<Item = Result<Bytes, Error>> + Unpin,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), Error> {
        let action = format!("uploading {digest} to {repository}");
        let location = self.send_blob(scopes, location, stream, progress, &action).await?;
        self.commit(scopes, location, digest, &action).await
    }

    /// Sends every byte of `stream` to the upload at `location` (one streamed `PATCH` where
    /// the transport can, else chunks) and returns the `Location` to commit at.
    async fn send_blob(
        &self,
        scopes: &[Scope],
        mut location: Url,
        mut stream: impl Stream<Item = Result<Bytes, Error>> + Unpin,
        progress: &mut dyn FnMut(u64),
        action: &str,
    ) -> Result<Url, Error> {
        if self.streams_uploads() {
            return self.patch_streamed(scopes, location, stream, progress, action).await;
        }
        let mut offset = 0u64;
        let mut buf = BytesMut::new();
        let mut ended = false;
        while !ended {
            let chunk_size = self.chunk_size.get();
            while buf.len() < chunk_size {
                match stream.next().await {
                    Some(chunk) => buf.extend_from_slice(&chunk?),
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            while buf.len() >= chunk_size || (ended && !buf.is_empty()) {
                let chunk = buf.split_to(buf.len().min(chunk_size)).freeze();
                let len = chunk.len() as u64;
                let mut request = Request::new(Method::PATCH, location.clone());
                request.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
                request
                    .headers
                    .insert(header::CONTENT_RANGE, header_value(&format!("{}-{}", offset, offset + len - 1)));
                request.headers.insert(header::CONTENT_LENGTH, header_value(&len.to_string()));
                request.body = chunk;
                let response = self.send(request, scopes, action).await?;
                if response.status != StatusCode::ACCEPTED && response.status != StatusCode::NO_CONTENT {
                    return Err(self.fail(response, action).await);
                }
                location = self.location(&response)?;
                offset += len;
                progress(offset);
            }
        }
        Ok(location)
    }

    /// The whole blob in one `PATCH` whose body streams from `stream` (a transport that can);
    /// returns the `Location` to commit at. A failing source aborts the `PATCH`, so the
    /// caller never gets to commit.
    async fn patch_streamed(
        &self,
        scopes: &[Scope],
        location: Url,
        stream: impl Stream<Item = Result<Bytes, Error>> + Unpin,
        progress: &mut dyn FnMut(u64),
        action: &str,
    ) -> Result<Url, Error> {
        let mut sent = 0u64;
        let counted = stream.inspect(|chunk| {
            if let Ok(bytes) = chunk {
                sent += bytes.len() as u64;
                progress(sent);
            }
        });
        let mut request = Request::new(Method::PATCH, location);
        request.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        let response = self.send_stream(request, Box::pin(counted), scopes, action).await?;
        if response.status != StatusCode::ACCEPTED && response.status != StatusCode::NO_CONTENT {
            return Err(self.fail(response, action).await);
        }
        self.location(&response)
    }

    /// `PUT Location?digest=…`: the registry checks the bytes and makes the blob visible.
    async fn commit(&self, scopes: &[Scope], mut location: Url, digest: &Digest, action: &str) -> Result<(), Error> {
        location.query_pairs_mut().append_pair("digest", digest.as_str());
        let mut request = Request::new(Method::PUT, location);
        request.headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        let response = self.send(request, scopes, action).await?;
        if response.status != StatusCode::CREATED {
            return Err(self.fail(response, action).await);
        }
        Ok(())
    }

    /// Puts a manifest under `reference` (a tag or its digest) with its exact media type.
    /// Returns the digest the registry stored it under, checked against our own.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &MediaType,
    ) -> Result<Digest, Error> {
        let digest = Digest::sha256(bytes);
        let url = self.url(&format!("v2/{repository}/manifests/{reference}"))?;
        let mut request = Request::new(Method::PUT, url);
        request.headers.insert(header::CONTENT_TYPE, header_value(media_type.as_str()));
        request.body = Bytes::copy_from_slice(bytes);
        let action = format!("pushing manifest {repository}:{reference}");
        let response = self.send(request, &[Scope::push(repository)], &action).await?;
        if response.status != StatusCode::CREATED {
            return Err(self.fail(response, &action).await);
        }
        if let Some(served) = response.header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok()) {
            if served != digest {
                return Err(Error::DigestMismatch {
                    registry: self.registry().to_owned(),
                    what: action,
                    expected: digest,
                    found: served,
                });
            }
        }
        Ok(digest)
    }

    /// The `Location` of an upload response, resolved against the URL that answered.
    fn location(&self, response: &Response) -> Result<Url, Error> {
        let raw = response.header("location").ok_or_else(|| Error::Protocol {
            registry: self.registry().to_owned(),
            message: format!("upload response {} has no Location header", response.status),
        })?;
        response.url.join(raw).map_err(|e| Error::Protocol {
            registry: self.registry().to_owned(),
            message: format!("upload Location is not a URL: {e}"),
        })
    }
}

/// The largest chunk a registry's `OCI-Chunk-Min-Length` can ask for (held in memory).
const MAX_CHUNK: usize = 64 << 20;

/// Failures an upload can continue after: the connection or the registry broke down for a
/// moment, or a token expired during a long upload (the status request renews it).
fn worth_resuming(e: &Error) -> bool {
    match e {
        Error::Unreachable { .. } | Error::Unauthorized { .. } => true,
        Error::Registry { status, .. } => *status == 408 || *status == 429 || *status >= 500,
        _ => false,
    }
}

fn push_scopes(repository: &str, mount_from: Option<&str>) -> Vec<Scope> {
    let mut scopes = vec![Scope::push(repository)];
    if let Some(from) = mount_from.filter(|f| *f != repository) {
        scopes.push(Scope::pull(from));
    }
    scopes
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use futures_util::stream;
    use http::HeaderMap;

    use super::*;
    use crate::auth::Credentials;
    use crate::transport::BodyStream;

    /// A registry on `r.example` (Basic auth) whose uploads live on `elsewhere.example`, and
    /// whose mounts answer with a `Location` there too: every request is recorded with whether
    /// it carried `Authorization`.
    #[derive(Default)]
    struct UploadsElsewhere {
        seen: RefCell<Vec<(Method, String, bool)>>,
        streams: bool,
    }

    impl UploadsElsewhere {
        fn answer(&self, request: &Request) -> Response {
            let authorized = request.headers.contains_key(header::AUTHORIZATION);
            self.seen.borrow_mut().push((request.method.clone(), request.url.to_string(), authorized));
            let mut headers = HeaderMap::new();
            let status = match (&request.method, request.url.host_str(), request.url.path()) {
                (_, Some("r.example"), _) if !authorized => {
                    headers.insert("www-authenticate", HeaderValue::from_static("Basic realm=\"r\""));
                    StatusCode::UNAUTHORIZED
                }
                (&Method::HEAD, _, _) => StatusCode::NOT_FOUND,
                (&Method::GET, _, "/v2/") => StatusCode::OK,
                (&Method::POST, _, _) | (&Method::PATCH, _, _) => {
                    headers.insert("location", HeaderValue::from_static("https://elsewhere.example/up/1?_state=s"));
                    StatusCode::ACCEPTED
                }
                (&Method::PUT, _, _) => StatusCode::CREATED,
                _ => StatusCode::BAD_REQUEST,
            };
            let body: BodyStream = Box::pin(stream::empty());
            Response { status, headers, url: request.url.clone(), body }
        }
    }

    impl Transport for UploadsElsewhere {
        async fn send(&self, request: Request) -> Result<Response, Error> {
            Ok(self.answer(&request))
        }

        fn streams_uploads(&self) -> bool {
            self.streams
        }

        async fn send_stream<'a>(
            &'a self,
            request: Request,
            body: crate::transport::UploadStream<'a>,
        ) -> Result<Response, Error> {
            let _: Vec<_> = body.collect().await;
            Ok(self.answer(&request))
        }
    }

    struct Bytes1(Bytes);

    impl BlobSource for Bytes1 {
        type Stream = stream::Iter<std::vec::IntoIter<Result<Bytes, Error>>>;
        async fn open(self) -> Result<Self::Stream, Error> {
            Ok(stream::iter(vec![Ok(self.0)]))
        }
    }

    fn pushed(streams: bool, mount_from: Option<&str>) -> Vec<(Method, String, bool)> {
        let transport = UploadsElsewhere { streams, ..Default::default() };
        let base = Url::parse("https://r.example/").unwrap_or_else(|e| panic!("{e}"));
        let credentials = Credentials::Basic { username: "u".into(), password: "secret".into() };
        let client = Client::with_base_url(&transport, "r.example", base, Some(credentials));
        let blob = Bytes::from_static(b"a blob");
        let digest = Digest::sha256(&blob);
        let outcome = crate::pull::tests::futures_executor(client.push_blob(
            "repo",
            &digest,
            mount_from,
            Bytes1(blob),
            &mut |_| {},
        ));
        assert_eq!(outcome.unwrap_or_else(|e| panic!("{e}")), BlobOutcome::Uploaded);
        transport.seen.take()
    }

    #[test]
    fn credentials_never_go_to_an_upload_location_on_another_host() {
        for (streams, mount_from) in [(true, None), (false, None), (true, Some("other/repo"))] {
            let seen = pushed(streams, mount_from);
            let elsewhere: Vec<_> =
                seen.iter().filter(|(_, url, _)| url.starts_with("https://elsewhere.example/")).collect();
            assert!(
                elsewhere.iter().any(|(m, _, _)| m == Method::PATCH)
                    && elsewhere.iter().any(|(m, _, _)| m == Method::PUT),
                "the upload went on at its Location: {seen:?}"
            );
            assert!(elsewhere.iter().all(|(_, _, authorized)| !authorized), "credentials left r.example: {seen:?}");
            assert!(
                seen.iter().any(|(m, url, authorized)| *m == Method::POST
                    && url.starts_with("https://r.example/")
                    && *authorized),
                "the registry itself still gets them: {seen:?}"
            );
        }
    }

    /// A registry whose uploads can be continued (as the distribution spec describes, though
    /// distribution 2.8 itself cancels them): the first streamed PATCH breaks after 4 bytes,
    /// the status request says `Range: 0-3`, and the rest goes in a second PATCH.
    #[derive(Default)]
    struct Resumable {
        stored: RefCell<Vec<u8>>,
        patches: RefCell<Vec<usize>>,
    }

    impl Resumable {
        fn location() -> HeaderValue {
            HeaderValue::from_static("https://r.example/v2/repo/blobs/uploads/1?_state=s")
        }
    }

    impl Transport for &Resumable {
        async fn send(&self, request: Request) -> Result<Response, Error> {
            let mut headers = HeaderMap::new();
            let status = match request.method {
                Method::HEAD => StatusCode::NOT_FOUND,
                Method::POST => {
                    headers.insert("location", Resumable::location());
                    StatusCode::ACCEPTED
                }
                Method::GET if request.url.path().contains("/uploads/") => {
                    headers.insert("location", Resumable::location());
                    let end = self.stored.borrow().len().saturating_sub(1);
                    headers.insert("range", header_value(&format!("0-{end}")));
                    StatusCode::NO_CONTENT
                }
                Method::GET => StatusCode::OK,
                Method::PUT => {
                    let wanted = request.url.query_pairs().find(|(k, _)| k == "digest").map(|(_, v)| v.into_owned());
                    if wanted == Some(Digest::sha256(&self.stored.borrow()).to_string()) {
                        StatusCode::CREATED
                    } else {
                        StatusCode::BAD_REQUEST
                    }
                }
                _ => StatusCode::BAD_REQUEST,
            };
            let body: BodyStream = Box::pin(stream::empty());
            Ok(Response { status, headers, url: request.url.clone(), body })
        }

        fn streams_uploads(&self) -> bool {
            true
        }

        fn tries(&self) -> u32 {
            3
        }

        async fn send_stream<'a>(
            &'a self,
            request: Request,
            body: crate::transport::UploadStream<'a>,
        ) -> Result<Response, Error> {
            let chunks: Vec<Bytes> = body.map(|c| c.unwrap_or_default()).collect().await;
            let bytes: Vec<u8> = chunks.concat();
            let first = self.patches.borrow().is_empty();
            self.patches.borrow_mut().push(bytes.len());
            if first {
                self.stored.borrow_mut().extend_from_slice(&bytes[..4]);
                return Err(Error::Unreachable {
                    registry: "r.example".into(),
                    url: request.url.to_string(),
                    message: "connection reset".into(),
                });
            }
            self.stored.borrow_mut().extend_from_slice(&bytes);
            let mut headers = HeaderMap::new();
            headers.insert("location", Resumable::location());
            Ok(Response {
                status: StatusCode::ACCEPTED,
                headers,
                url: request.url.clone(),
                body: Box::pin(stream::empty()),
            })
        }
    }

    /// Bytes that can be read again from any offset.
    struct Replayable(Bytes);

    impl BlobSource for Replayable {
        type Stream = stream::Iter<std::vec::IntoIter<Result<Bytes, Error>>>;
        async fn open(self) -> Result<Self::Stream, Error> {
            Ok(stream::iter(vec![Ok(self.0)]))
        }
        async fn reopen(&self, offset: u64) -> Result<Option<Self::Stream>, Error> {
            Ok(Some(stream::iter(vec![Ok(self.0.slice(offset as usize..))])))
        }
    }

    #[test]
    fn a_broken_upload_continues_where_the_registry_says_it_stands() {
        let registry = Resumable::default();
        let base = Url::parse("https://r.example/").unwrap_or_else(|e| panic!("{e}"));
        let client = Client::with_base_url(&registry, "r.example", base, None);
        let blob = Bytes::from_static(b"twelve bytes");
        let digest = Digest::sha256(&blob);
        let mut progress = Vec::new();
        let outcome = crate::pull::tests::futures_executor(client.push_blob(
            "repo",
            &digest,
            None,
            Replayable(blob.clone()),
            &mut |n| progress.push(n),
        ));
        assert_eq!(outcome.unwrap_or_else(|e| panic!("{e}")), BlobOutcome::Uploaded);
        assert_eq!(*registry.stored.borrow(), blob.to_vec());
        assert_eq!(*registry.patches.borrow(), [12, 8], "the second PATCH carried only the rest");
        assert_eq!(progress.last(), Some(&12));
    }

    /// A registry that asks for 8 MiB chunks (`OCI-Chunk-Min-Length`) of a client that cannot
    /// stream a body (the browser's): the PATCHes it gets.
    #[derive(Default)]
    struct WantsBigChunks {
        patches: RefCell<Vec<usize>>,
    }

    impl Transport for &WantsBigChunks {
        async fn send(&self, request: Request) -> Result<Response, Error> {
            let mut headers = HeaderMap::new();
            let status = match request.method {
                Method::HEAD => StatusCode::NOT_FOUND,
                Method::GET => StatusCode::OK,
                Method::POST | Method::PATCH => {
                    if request.method == Method::PATCH {
                        self.patches.borrow_mut().push(request.body.len());
                    }
                    headers.insert("location", HeaderValue::from_static("https://r.example/v2/repo/blobs/uploads/1"));
                    headers.insert("oci-chunk-min-length", HeaderValue::from_static("8388608"));
                    StatusCode::ACCEPTED
                }
                Method::PUT => StatusCode::CREATED,
                _ => StatusCode::BAD_REQUEST,
            };
            Ok(Response { status, headers, url: request.url.clone(), body: Box::pin(stream::empty()) })
        }
    }

    #[test]
    fn chunks_are_as_big_as_the_registry_asks() {
        let registry = WantsBigChunks::default();
        let base = Url::parse("https://r.example/").unwrap_or_else(|e| panic!("{e}"));
        let client = Client::with_base_url(&registry, "r.example", base, None);
        let blob = Bytes::from(vec![7u8; 10 << 20]);
        let digest = Digest::sha256(&blob);
        let outcome =
            crate::pull::tests::futures_executor(client.push_blob("repo", &digest, None, Bytes1(blob), &mut |_| {}));
        assert_eq!(outcome.unwrap_or_else(|e| panic!("{e}")), BlobOutcome::Uploaded);
        assert_eq!(*registry.patches.borrow(), [8 << 20, 2 << 20]);
    }
}
