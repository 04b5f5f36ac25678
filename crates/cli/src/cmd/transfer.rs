//! What the commands that move images share: `-j`, progress lines, and running a copy.

use anyhow::Result;
use layerize_core::Digest;
use layerize_registry::copy::{self, CopyEvent, ImageSink, ImageSource, Plan};
use layerize_registry::BlobOutcome;

use crate::progress::Progress;

/// Blobs moved at a time, by default (skopeo moves 6, regctl 3).
pub const DEFAULT_JOBS: usize = 4;

/// Copies `plan` from `source` to `sink`, tagging its top `tag`, with one progress line per
/// blob and manifest. Returns the top document's digest.
pub async fn run_copy<S: ImageSource, K: ImageSink>(
    source: &S,
    sink: &K,
    plan: &Plan,
    tag: Option<&str>,
    jobs: usize,
    progress: Progress,
) -> Result<Digest> {
    let mut on = |event: CopyEvent| report(progress, event);
    Ok(copy::copy(source, sink, plan, tag, jobs, &mut on).await?)
}

/// One progress line per blob in place and per manifest put.
pub fn report(progress: Progress, event: CopyEvent) {
    match event {
        CopyEvent::Blob { digest, size, outcome } => {
            let what = match outcome {
                BlobOutcome::AlreadyThere => "already there",
                BlobOutcome::Mounted => "mounted",
                BlobOutcome::Uploaded => "copied",
            };
            progress.step(format!("blob {digest}: {what} ({size} bytes)"));
        }
        CopyEvent::Manifest { digest, tag: Some(tag) } => progress.step(format!("manifest {digest}: put as {tag}")),
        CopyEvent::Manifest { digest, tag: None } => progress.step(format!("manifest {digest}: put")),
        CopyEvent::Started { .. } | CopyEvent::Moved { .. } => {}
    }
}
