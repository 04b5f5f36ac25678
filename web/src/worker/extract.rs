//! One regular file out of a layer: the core's decoder reads the layer as it downloads and
//! the core's [`Extraction`] copies that member into Blob parts (never the whole file in wasm
//! memory); the blob is then read to its end and checked, so the file handed back is the one
//! the digest vouches for.

use layerize_core::layer::decode::Event;
use layerize_core::layer::read::Extraction;

use super::remote_layer::Wanted;
use super::{Error, Reply};
use crate::blob_parts::BlobParts;
use crate::protocol::extract::Extracted;
use crate::protocol::{Extract, Progress};

/// Extracts the file at `job.path` of `job.layer`.
pub async fn extract(reply: &Reply<Extract>, job: Extract) -> Result<Extracted, Error> {
    let Extract { layer, path } = job;
    let mut out = BlobParts::new();
    let mut fetched = |done: u64, total: u64| reply.update(Progress { done, total });
    let mut extraction = Extraction::new(layer.digest.as_str(), &path);
    let mut size = None;
    let mut take = |event: Event<'_>| -> Result<Wanted, layerize_core::Error> {
        size = extraction.take(event, &mut out)?;
        Ok(if size.is_some() { Wanted::Done } else { Wanted::More })
    };
    layer.read_verified(&mut fetched, &mut take).await?;
    let size = size.ok_or_else(|| Error::NoSuchFile { digest: layer.digest.clone(), path: path.clone() })?;
    let blob = out.finish().map_err(|e| Error::browser(format!("keeping {path}"), &e))?;
    Ok(Extracted { path, size, blob })
}
