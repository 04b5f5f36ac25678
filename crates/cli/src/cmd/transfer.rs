//! What the commands that move images share: `-j`, progress, and running a copy.

use anyhow::Result;
use layerize_core::Digest;
use layerize_registry::copy::{self, CopyEvent, ImageSink, ImageSource, Plan};

use crate::progress::Progress;

/// Blobs moved at a time, by default (skopeo moves 6, regctl 3).
pub const DEFAULT_JOBS: usize = 4;

/// Copies `plan` from `source` to `sink`, tagging its top `tag`, with its progress (the
/// plan's blob bytes are the overall total). Returns the top document's digest.
pub async fn run_copy<S: ImageSource, K: ImageSink>(
    source: &S,
    sink: &K,
    plan: &Plan,
    tag: Option<&str>,
    jobs: usize,
    progress: Progress,
) -> Result<Digest> {
    progress.begin(plan.blob_bytes());
    let mut on = |event: CopyEvent| report(progress, event);
    let copied = copy::copy(source, sink, plan, tag, jobs, &mut on).await;
    progress.end();
    Ok(copied?)
}

/// Hands a copy's event to the progress renderer: for the commands that put blobs and
/// documents themselves (load, append), as [`run_copy`] does.
pub fn report(progress: Progress, event: CopyEvent) {
    progress.event(event);
}
