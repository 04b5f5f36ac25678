//! The merged filesystem of an image, computed in the layer worker: each layer is fetched and
//! decoded as a stream by the core's decoder and applied to the core's flattener, lowest
//! first, exactly as `layerize ls --merged` does; the result goes to the page in batches.

use layerize_core::flatten::Flattener;
use layerize_core::layer::decode::Event;

use crate::protocol::FromWorker;
use crate::worker::remote_layer::{RemoteLayer, Wanted};

/// Merged entries per message: few messages, none too large to clone quickly.
const BATCH: usize = 1000;

/// Merges `layers` (lowest first), posting `Reading` as each layer starts, `Progress` as its
/// bytes arrive and the result as `Merged` batches; returns the closing `MergeDone`.
pub async fn merge(layers: &[RemoteLayer], post: &mut dyn FnMut(FromWorker)) -> Result<FromWorker, String> {
    let mut flattener = Flattener::new();
    for (i, layer) in layers.iter().enumerate() {
        post(FromWorker::Reading { layer: i + 1, layers: layers.len() });
        let mut fetched = |done: u64, total: u64| post(FromWorker::Progress { done, total });
        let mut entries = Vec::new();
        let mut collect = |event: Event<'_>| -> Result<Wanted, layerize_core::Error> {
            if let Event::Member(member) = event {
                entries.push(member.entry);
            }
            Ok(Wanted::More)
        };
        layer
            .read_verified(&mut fetched, &mut collect)
            .await
            .map_err(|e| format!("layer {} of {}: {e}", i + 1, layers.len()))?;
        flattener.apply(&entries);
    }
    let merged = flattener.into_entries();
    for batch in merged.chunks(BATCH) {
        post(FromWorker::Merged { entries: batch.to_vec() });
    }
    Ok(FromWorker::MergeDone { count: merged.len() as u64 })
}
