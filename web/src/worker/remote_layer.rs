//! A layer blob a worker reads as it downloads and holds to its digest and size once it has
//! read it to the end: one streamed `fetch` (through the page's proxy, or of an object URL of
//! an opened tar's slice), each chunk of its `ReadableStream` awaited, hashed and fed to the
//! core's push decoder ([`LayerDecoder`]) in the same worker, whose events go to the caller
//! as they come. No second worker, no shared memory, no synchronous requests: the page needs
//! no cross-origin isolation to read layers.
//!
//! Hashing would be the largest cost after inflating (SHA-256 in wasm runs at ~220 MB/s), but
//! a whole blob the page's own server proxies comes checked: the proxy hashes it natively and
//! cuts the body short if it does not match (see `server/src/blob_check.rs`), so it is not
//! hashed again, and the check is [`BlobCheck::VouchedByProxy`]. Anything else (an opened
//! tar's slice, a label from a proxy that is not the page's own) is hashed in wasm as it
//! passes: [`BlobCheck::Computed`].

use js_sys::Uint8Array;
use layerize_core::digest::Hasher;
use layerize_core::layer::decode::{Event, LayerDecoder};
use layerize_core::media_type::Compression;
use layerize_registry::transport::proxy::BlobCheck;
use layerize_registry::transport::PROXY_CHECKED_DIGEST;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, ReadableStreamDefaultReader, RequestInit, Response, WorkerGlobalScope};

use super::error::{Error, FetchProblem};
use crate::js_error::js_text;
use crate::protocol::RemoteLayer;

/// Progress goes to the page every this many bytes.
const REPORT_EVERY: u64 = 4 << 20;

/// What a reader of a layer's events wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    More,
    /// Nothing more: the rest of the blob is only downloaded and checked.
    Done,
}

/// Reading a layer is the worker's side of [`RemoteLayer`].
impl RemoteLayer {
    /// Downloads the layer and hands the decoder's events to `on_event` as the bytes arrive,
    /// until it has what it wants; then reads the rest and checks the whole blob. A reader's
    /// result must not be used unless this returns `Ok` (with how the blob is compressed).
    /// `on_fetched(done, size)` follows the download.
    pub async fn read_verified(
        &self,
        on_fetched: &mut dyn FnMut(u64, u64),
        on_event: &mut dyn FnMut(Event<'_>) -> Result<Wanted, layerize_core::Error>,
    ) -> Result<Compression, Error> {
        let fetching = |problem: FetchProblem| Error::Fetch { digest: self.digest.clone(), problem };
        let response = self.fetch().await.map_err(fetching)?;
        let body = response.body().ok_or_else(|| fetching(FetchProblem::NoBody))?;
        let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
        let label = response.headers().get(PROXY_CHECKED_DIGEST).ok().flatten();
        let vouched = self.vouching.vouches(label.as_deref(), &self.digest);
        let mut hasher = (!vouched).then(Hasher::new);
        let mut decoder = LayerDecoder::new(self.digest.as_str(), false);
        let mut decoding = true;
        let (mut chunk, mut received, mut reported) = (Vec::new(), 0u64, 0u64);
        loop {
            let next = JsFuture::from(reader.read())
                .await
                .map_err(|e| fetching(FetchProblem::Read(format!("the download broke off: {}", js_text(&e)))))?;
            let done = js_sys::Reflect::get(&next, &"done".into()).map(|d| d.is_truthy()).unwrap_or(true);
            if !done {
                let value: Uint8Array = js_sys::Reflect::get(&next, &"value".into())
                    .map_err(|e| fetching(FetchProblem::Read(js_text(&e))))?
                    .unchecked_into();
                received += u64::from(value.length());
                if received > self.size {
                    return Err(fetching(FetchProblem::TooLong { size: self.size }));
                }
                if hasher.is_none() && !decoding {
                    continue;
                }
                // One copy into wasm memory, for the hash and the decoder both.
                chunk.resize(value.length() as usize, 0);
                value.copy_to(&mut chunk);
                if let Some(hasher) = hasher.as_mut() {
                    hasher.update(&chunk);
                }
                if received >= reported + REPORT_EVERY {
                    reported = received;
                    on_fetched(received, self.size);
                }
            }
            if decoding {
                if done {
                    decoder.finish();
                } else {
                    decoder.feed(&chunk);
                }
                decoding = drain(&mut decoder, on_event)? == Wanted::More;
            }
            if done {
                break;
            }
        }
        on_fetched(received, self.size);
        let check = match hasher {
            Some(hasher) => BlobCheck::Computed(hasher.finish()),
            None => BlobCheck::VouchedByProxy(self.digest.clone()),
        };
        if !check.confirms(&self.digest) || received != self.size {
            return Err(Error::Mismatch {
                digest: self.digest.clone(),
                received,
                size: self.size,
                check: check.describe(),
            });
        }
        Ok(decoder.compression())
    }

    /// Starts the download: the response, once its status says the body is the blob.
    async fn fetch(&self) -> Result<Response, FetchProblem> {
        let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
        let headers = Headers::new().map_err(|e| FetchProblem::Request(js_text(&e)))?;
        if let Some(value) = &self.authorization {
            headers.set("Authorization", value).map_err(|e| FetchProblem::Request(js_text(&e)))?;
        }
        let init = RequestInit::new();
        init.set_headers(&headers);
        let response: Response = JsFuture::from(scope.fetch_with_str_and_init(&self.url, &init))
            .await
            .map_err(|e| FetchProblem::Request(js_text(&e)))?
            .unchecked_into();
        if !response.ok() {
            let said = match response.text() {
                Ok(text) => JsFuture::from(text).await.ok().and_then(|t| t.as_string()).unwrap_or_default(),
                Err(_) => String::new(),
            };
            let said = said.chars().take(300).collect::<String>().trim().to_owned();
            return Err(FetchProblem::Status { status: response.status(), said });
        }
        Ok(response)
    }
}

/// Hands `decoder`'s events to `on_event` until it wants more input or nothing more.
fn drain(
    decoder: &mut LayerDecoder,
    on_event: &mut dyn FnMut(Event<'_>) -> Result<Wanted, layerize_core::Error>,
) -> Result<Wanted, layerize_core::Error> {
    while let Some(event) = decoder.poll()? {
        let end = event == Event::End;
        if on_event(event)? == Wanted::Done || end {
            return Ok(Wanted::Done);
        }
    }
    Ok(Wanted::More)
}
