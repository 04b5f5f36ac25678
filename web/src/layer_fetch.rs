//! The fetching half of reading a remote layer: a second worker, started by the reading
//! worker, downloads the blob with one streamed `fetch` (through the proxy, or from an object
//! URL of an opened tar's slice), hashes it and passes it on through a [`crate::blob_ring`].
//!
//! Hashing would be the largest cost after inflating (SHA-256 in wasm runs at ~220 MB/s), but a
//! whole blob the page's own server proxies comes checked: the proxy hashes it natively and
//! cuts the body short if it does not match (see `server/src/blob_check.rs`), so it is not
//! hashed again, and the ring ends with [`BlobCheck::VouchedByProxy`]. Anything else (an opened
//! tar's slice, a label from a proxy that is not the page's own) is hashed in wasm as it
//! passes: [`BlobCheck::Computed`].

use js_sys::{SharedArrayBuffer, Uint8Array};
use layerize_core::digest::Hasher;
use layerize_registry::transport::proxy::BlobCheck;
use layerize_registry::transport::PROXY_CHECKED_DIGEST;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, MessageEvent, ReadableStreamDefaultReader, RequestInit, Response, Worker, WorkerGlobalScope};

use crate::blob_ring::{self, RingRead, RingWriter};
use crate::remote_layer::RemoteLayer;
use crate::worker::{envelope, open, FromWorker, ToWorker};

/// The reading worker's handle on its fetching worker (terminated when dropped).
pub struct Fetcher {
    worker: Worker,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Starts the fetching worker and waits until it runs: the reading worker blocks while it
    /// reads, so the other worker must be up before the first byte is wanted.
    pub async fn start() -> Result<Fetcher, String> {
        let worker = Worker::new("./worker_loader.js").map_err(|e| format!("cannot start the fetch worker: {e:?}"))?;
        let ready = js_sys::Promise::new(&mut |resolve, reject| {
            let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                let settle = match open::<FromWorker>(&e.data()) {
                    Ok(FromWorker::Ready) => resolve.call0(&JsValue::NULL),
                    Ok(FromWorker::Failed { message }) => reject.call1(&JsValue::NULL, &message.into()),
                    _ => Ok(JsValue::NULL),
                };
                let _ = settle;
            });
            worker.set_onmessage(Some(handler.as_ref().unchecked_ref()));
            handler.forget();
        });
        JsFuture::from(ready).await.map_err(|e| format!("the fetch worker did not start: {e:?}"))?;
        worker.set_onmessage(None);
        Ok(Fetcher { worker })
    }

    /// Has the fetching worker download `layer` into a new ring; returns the ring's reading end.
    pub fn open(&self, layer: &RemoteLayer) -> Result<RingRead, String> {
        let ring = blob_ring::new_ring();
        let env =
            envelope(&ToWorker::Fetch { layer: layer.clone() }, &[("ring", &ring)]).map_err(|e| format!("{e:?}"))?;
        self.worker.post_message(&env).map_err(|e| format!("cannot reach the fetch worker: {e:?}"))?;
        Ok(RingRead::new(&ring))
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

/// In the fetching worker: downloads `layer` into `ring`, hashing as it goes, and ends the
/// ring with the digest or with what went wrong.
pub async fn fetch_into(layer: &RemoteLayer, ring: &SharedArrayBuffer) {
    let mut writer = RingWriter::new(ring);
    match download(layer, &mut writer).await {
        Ok(check) => writer.finish(&check),
        Err(message) => writer.fail(&format!("fetching layer {}: {message}", layer.digest)),
    }
}

async fn download(layer: &RemoteLayer, writer: &mut RingWriter) -> Result<BlobCheck, String> {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    let headers = Headers::new().map_err(js)?;
    if let Some(value) = &layer.authorization {
        headers.set("Authorization", value).map_err(js)?;
    }
    let init = RequestInit::new();
    init.set_headers(&headers);
    let response: Response = JsFuture::from(scope.fetch_with_str_and_init(&layer.url, &init))
        .await
        .map_err(|e| format!("the request failed: {}", js(e)))?
        .unchecked_into();
    if !response.ok() {
        let said = match response.text() {
            Ok(text) => JsFuture::from(text).await.ok().and_then(|t| t.as_string()).unwrap_or_default(),
            Err(_) => String::new(),
        };
        return Err(format!(
            "the registry answered {}: {}",
            response.status(),
            said.chars().take(300).collect::<String>().trim()
        ));
    }
    let body = response.body().ok_or("the response has no body")?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    // Vouched for by the page's own proxy, or hashed here in wasm (each chunk copied into wasm
    // memory).
    let label = response.headers().get(PROXY_CHECKED_DIGEST).ok().flatten();
    let vouched = layer.vouching.vouches(label.as_deref(), &layer.digest);
    let mut hashing = (!vouched).then(|| (Hasher::new(), Vec::new()));
    let mut received = 0u64;
    loop {
        let next = JsFuture::from(reader.read()).await.map_err(|e| format!("the download broke off: {}", js(e)))?;
        if js_sys::Reflect::get(&next, &"done".into()).map(|d| d.is_truthy()).unwrap_or(true) {
            return Ok(match hashing {
                Some((hasher, _)) => BlobCheck::Computed(hasher.finish()),
                None => BlobCheck::VouchedByProxy(layer.digest.clone()),
            });
        }
        let chunk: Uint8Array = js_sys::Reflect::get(&next, &"value".into()).map_err(js)?.unchecked_into();
        received += u64::from(chunk.length());
        if received > layer.size {
            return Err(format!("the registry sent more than the {} bytes the descriptor gives", layer.size));
        }
        if let Some((hasher, copy)) = hashing.as_mut() {
            copy.resize(chunk.length() as usize, 0);
            chunk.copy_to(copy);
            hasher.update(copy);
        }
        writer.write(&chunk);
    }
}

fn js(e: JsValue) -> String {
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}
