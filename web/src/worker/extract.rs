//! One regular file out of a layer, in the layer worker: the core's decoder reads the layer
//! as it downloads and the core's [`Extraction`] copies that member into Blob parts (never
//! the whole file in wasm memory); the blob is then read to its end and checked, so the file
//! handed back is the one the digest vouches for.

use layerize_core::layer::decode::Event;
use layerize_core::layer::read::Extraction;

use crate::blob_parts::BlobParts;
use crate::page::failure::js_text;
use crate::protocol::FromWorker;
use crate::worker::remote_layer::{RemoteLayer, Wanted};

/// Extracts the file at `path` of `layer`: `Extracted` and the file's Blob.
pub async fn extract(
    layer: &RemoteLayer,
    path: &str,
    post: &mut dyn FnMut(FromWorker),
) -> Result<(FromWorker, web_sys::Blob), String> {
    let mut out = BlobParts::new();
    let mut fetched = |done: u64, total: u64| post(FromWorker::Progress { done, total });
    let mut extraction = Extraction::new(layer.digest.as_str(), path);
    let mut size = None;
    let mut take = |event: Event<'_>| -> Result<Wanted, layerize_core::Error> {
        size = extraction.take(event, &mut out)?;
        Ok(if size.is_some() { Wanted::Done } else { Wanted::More })
    };
    layer.read_verified(&mut fetched, &mut take).await?;
    let size = size.ok_or_else(|| format!("layer {} ended before {path} did", layer.digest))?;
    let blob = out.finish().map_err(|e| format!("keeping {path}: {}", js_text(&e)))?;
    Ok((FromWorker::Extracted { path: path.to_owned(), size }, blob))
}
