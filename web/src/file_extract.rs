//! One regular file out of a layer, in the layer worker: the core's reader streams the layer
//! and copies that member into Blob parts (never the whole file in wasm memory); the blob is
//! then read to its end and checked, so the file handed back is the one the digest vouches for.

use crate::blob_parts::BlobParts;
use crate::remote_layer::{Fetch, RemoteLayer};
use crate::worker::FromWorker;

/// Extracts the file at `path` of `layer`: `Extracted` and the file's Blob.
pub fn extract(
    layer: &RemoteLayer,
    path: &str,
    fetch: &Fetch,
    post: &mut dyn FnMut(FromWorker),
) -> Result<(FromWorker, web_sys::Blob), String> {
    let mut out = BlobParts::new();
    let mut fetched = |done: u64, total: u64| post(FromWorker::Progress { done, total });
    let size = layer.read_verified(fetch, &mut fetched, |reader| reader.extract(path, &mut out))?;
    let blob = out.finish().map_err(|e| format!("keeping {path}: {e:?}"))?;
    Ok((FromWorker::Extracted { path: path.to_owned(), size }, blob))
}
