//! `append` written to an archive (`-o`) or kept in the local store (`--store`, with a `-t`
//! that names no registry) instead of pushed. The layer is built into a file first, since an
//! archive lists a blob only once its bytes are in, then the one copy writes the appended
//! image (base blobs read from the base, checked as they stream) into the sink.

use std::path::Path;

use anyhow::Result;
use layerize_core::config::ConfigChanges;
use layerize_core::mutate::NewLayer;
use layerize_core::Platform;
use layerize_registry::copy::{self, Platforms};

use super::base;
use crate::blob_source::Blob;
use crate::cmd::transfer::{run_copy, DEFAULT_JOBS};
use crate::progress::Progress;
use crate::sink::Sink;
use crate::source::Source;

/// An append kept locally.
#[derive(Debug)]
pub(super) struct LocalJob {
    /// What names the base at its source, and how the user wrote it.
    pub selector: String,
    pub shown: String,
    pub platform: Option<Platform>,
    pub all_platforms: bool,
    pub changes: ConfigChanges,
    pub progress: Progress,
}

impl LocalJob {
    /// Appends `layer` (built into `layer_file`) to the base at `source`,
    /// writes the result to `sink` under `name`; returns its digest.
    pub(super) async fn run(
        self,
        source: &Source<'_>,
        layer: NewLayer,
        layer_file: &Path,
        sink: Sink<'_>,
        name: Option<&str>,
    ) -> Result<layerize_core::Digest> {
        let base = base::resolve(
            source,
            &self.selector,
            &self.shown,
            self.platform.as_ref(),
            self.all_platforms,
            self.progress,
        )
        .await?;
        let appended = base.append(&layer, &self.changes)?;
        let (overlay, top) = base.overlay(source, &appended, Some(Blob::File(layer_file.to_owned())))?;
        let plan = copy::plan(&overlay, top.digest.as_str(), &Platforms::All).await?;
        let digest = run_copy(&overlay, &sink, &plan, name, DEFAULT_JOBS, self.progress).await?;
        sink.finish().await?;
        Ok(digest)
    }
}
