//! The merged filesystem of an image: each layer is fetched and decoded as a stream by the
//! core's decoder and applied to the core's flattener, lowest first, exactly as
//! `layerize ls --merged` does; the result goes to the page in batches.

use layerize_core::flatten::Flattener;
use layerize_core::layer::decode::Event;

use super::remote_layer::Wanted;
use super::{Error, Reply};
use crate::protocol::merge::{MergeUpdate, Merged};
use crate::protocol::{Merge, Progress, RemoteLayer};

/// Merged entries per message: few messages, none too large to clone quickly.
const BATCH: usize = 1000;

/// Merges `layers` (lowest first), saying `Reading` as each layer starts, `Fetched` as its
/// bytes arrive and the result in `Entries` batches.
pub async fn merge(reply: &Reply<Merge>, layers: &[RemoteLayer]) -> Result<Merged, Error> {
    let mut flattener = Flattener::new();
    for (i, layer) in layers.iter().enumerate() {
        reply.update(MergeUpdate::Reading { layer: i + 1, layers: layers.len() });
        let mut fetched = |done: u64, total: u64| reply.update(MergeUpdate::Fetched(Progress { done, total }));
        let mut entries = Vec::new();
        let mut collect = |event: Event<'_>| -> Result<Wanted, layerize_core::Error> {
            if let Event::Member(member) = event {
                entries.push(member.entry);
            }
            Ok(Wanted::More)
        };
        layer.read_verified(&mut fetched, &mut collect).await.map_err(|e| Error::InLayer {
            at: i + 1,
            of: layers.len(),
            source: Box::new(e),
        })?;
        flattener.apply(&entries);
    }
    let merged = flattener.into_entries();
    for batch in merged.chunks(BATCH) {
        reply.update(MergeUpdate::Entries(batch.to_vec()));
    }
    Ok(Merged { count: merged.len() as u64 })
}
