//! Listing a layer's members as it downloads.

use layerize_core::layer::decode::Event;

use super::remote_layer::Wanted;
use super::{Error, Reply};
use crate::protocol::list::{ListUpdate, Listed};
use crate::protocol::{List, Progress, RemoteLayer};

/// Members per `Entries` message at most: few enough messages for a large layer.
const BATCH: usize = 500;

/// Lists `layer` as it downloads (see `RemoteLayer::read_verified`), posting members in
/// batches: the first at once, then every [`BATCH`] members or 100 ms, so rows show as soon
/// as they are read.
pub async fn list(reply: &Reply<List>, layer: &RemoteLayer) -> Result<Listed, Error> {
    let mut fetched = |done: u64, total: u64| reply.update(ListUpdate::Fetched(Progress { done, total }));
    let mut count = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    let mut posted = 0.0;
    let mut take = |event: Event<'_>| -> Result<Wanted, layerize_core::Error> {
        let Event::Member(member) = event else { return Ok(Wanted::More) };
        batch.push(member.entry.clone());
        count += 1;
        let now = js_sys::Date::now();
        if batch.len() == BATCH || count == 1 || now - posted > 100.0 {
            reply.update(ListUpdate::Entries(std::mem::take(&mut batch)));
            posted = now;
        }
        Ok(Wanted::More)
    };
    let compression = layer.read_verified(&mut fetched, &mut take).await?;
    if !batch.is_empty() {
        reply.update(ListUpdate::Entries(batch));
    }
    Ok(Listed { count, compression })
}
