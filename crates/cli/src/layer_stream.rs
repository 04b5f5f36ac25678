//! A layer read while it downloads: the registry's verified blob stream feeds the core's
//! blocking [`LayerReader`] on a worker thread through a small bounded channel, so gunzip and
//! tar parsing overlap the transfer and no more than a few chunks are ever held.

use anyhow::{Context, Result};
use layerize_core::descriptor::Descriptor;
use layerize_core::layer::read::{LayerReader, StoredEntry};
use layerize_registry::copy::ImageSource;
use tokio::sync::mpsc;

use crate::layer_feed::{pump, ChannelReader};

/// Chunks in flight between the download and the reader.
const DEPTH: usize = 32;

/// The entries of a layer as the reader yields them.
pub type EntryIter<'a> = &'a mut dyn Iterator<Item = Result<StoredEntry, layerize_core::Error>>;

/// Reads `layer` from `source` and hands its entries to `consume`, which runs on a
/// worker thread while the blob arrives. When `consume` returns early without error, the rest
/// of the blob is still read, so a blob that fails its digest check is always an error.
pub async fn read_layer<S, T, F>(source: &S, layer: &Descriptor, consume: F) -> Result<T>
where
    S: ImageSource,
    T: Send + 'static,
    F: FnOnce(EntryIter<'_>) -> Result<T> + Send + 'static,
{
    let what = layer.digest.to_string();
    let stream = source.blob(layer).await.with_context(|| format!("fetching layer {what}"))?;
    let (tx, rx) = mpsc::channel(DEPTH);
    let mut parse = tokio::task::spawn_blocking(move || -> Result<T> {
        let mut reader = LayerReader::new(&what, ChannelReader::new(rx))?;
        let mut entries = reader.entries()?;
        consume(&mut entries)
    });
    let pump = pump(stream, tx);
    tokio::pin!(pump);
    let mut pumped = None;
    let parsed = loop {
        tokio::select! {
            done = &mut pump, if pumped.is_none() => pumped = Some(done),
            joined = &mut parse => break joined.context("the layer reader stopped unexpectedly")?,
        }
    };
    match (parsed, pumped) {
        // The download failed first (a broken connection, a digest mismatch): that is the
        // cause, whatever the reader made of the cut-off stream.
        (Err(_), Some(Err(download))) => Err(download.into()),
        (Err(e), _) => Err(e),
        (Ok(value), Some(done)) => done.map(|()| value).map_err(Into::into),
        (Ok(value), None) => pump.await.map(|()| value).map_err(Into::into),
    }
}
