//! A layer read while it downloads: each chunk of the source's verified blob stream is fed to
//! the core's push decoder as it arrives, and the entries it yields go to the caller at once.
//! Gunzip and tar parsing run between chunks on the same task (the network keeps buffering
//! meanwhile), so nothing but the chunk in hand and the decoder's buffer is held.

use anyhow::{Context, Result};
use futures_util::StreamExt;
use layerize_core::descriptor::Descriptor;
use layerize_core::layer::decode::{Event, LayerDecoder};
use layerize_core::layer::read::StoredEntry;
use layerize_registry::copy::ImageSource;

/// Reads `layer` from `source`, handing each entry to `on_entry` as it is read. The blob is
/// read to its end even when the tar ends earlier, so a blob that fails its digest check is
/// always an error; and when the layer cannot be read, a broken download is named as the
/// cause rather than what the decoder made of the cut-off stream.
pub async fn read_layer<S: ImageSource>(
    source: &S,
    layer: &Descriptor,
    mut on_entry: impl FnMut(StoredEntry) -> Result<()>,
) -> Result<()> {
    let what = layer.digest.to_string();
    let mut stream = source.blob(layer).await.with_context(|| format!("fetching layer {what}"))?;
    let mut decoder = LayerDecoder::new(&what, true);
    let mut decoded = None;
    loop {
        while decoded.is_none() {
            match decoder.poll() {
                Ok(Some(Event::Member(member))) => on_entry(member.entry)?,
                Ok(Some(Event::Data(_))) => {}
                Ok(Some(Event::End)) => decoded = Some(Ok(())),
                Ok(None) => break,
                Err(e) => decoded = Some(Err(e)),
            }
        }
        match stream.next().await {
            Some(Ok(chunk)) => decoder.feed(&chunk),
            Some(Err(e)) => return Err(e).with_context(|| format!("reading layer {what}")),
            None if decoded.is_none() => decoder.finish(),
            None => break,
        }
    }
    decoded.unwrap_or(Ok(())).map_err(Into::into)
}
