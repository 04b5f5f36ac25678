//! `append` pushed to a registry, with the new layer uploaded while it is built.
//!
//! The base is resolved (manifests and configs, from any source) and the append tried with a
//! stand-in layer first, so every mistake in the base or the options fails before a byte is
//! sent. Then two things run side by side: the base's layers are put into the target by the
//! one copy (skipped if there, mounted within one registry, else streamed across), and the
//! layer is built straight into its upload ([`crate::layer_upload`]). Only once both are done,
//! and the layer's digests known, are the configs and manifests made and put, by the same
//! copy: a failure before that leaves no manifest and no tag (at most blobs nothing points
//! at, which the registry's garbage collection removes).

use anyhow::{Context, Result};
use futures_util::future::try_join;
use layerize_core::config::{ConfigChanges, History};
use layerize_core::layer::{LayerOptions, Plan};
use layerize_core::mutate::NewLayer;
use layerize_core::{Platform, Reference};
use layerize_registry::copy::{self, CopyEvent, ImageSource, Platforms, Repository};

use super::base;
use crate::cmd::transfer::{report, DEFAULT_JOBS};
use crate::layer_upload;
use crate::progress::Progress;
use crate::remote::Access;
use crate::source::Source;

/// An append pushed to a registry.
#[derive(Debug)]
pub(super) struct RegistryJob {
    pub target: Reference,
    pub platform: Option<Platform>,
    pub all_platforms: bool,
    pub changes: ConfigChanges,
    pub progress: Progress,
}

/// The new layer, before it is built: what goes into it and the history entry describing it.
#[derive(Debug)]
pub(super) struct LayerToBuild {
    pub plan: Plan<std::path::PathBuf>,
    pub options: LayerOptions,
    pub history: History,
}

impl RegistryJob {
    /// Runs the append on the base `selector` names at `source`; returns the target pinned to
    /// the digest its tag now points at.
    pub(super) async fn run(
        self,
        access: &Access,
        source: &Source<'_>,
        selector: &str,
        shown: &str,
        layer: LayerToBuild,
    ) -> Result<Reference> {
        let progress = self.progress;
        let base = base::resolve(source, selector, shown, self.platform.as_ref(), self.all_platforms, progress).await?;
        base.check(&layer.history, &self.changes)?;

        let client = access.client(&self.target)?;
        let sink = Repository { client: &client, name: self.target.repository().to_owned() };
        let mut on = |event: CopyEvent| report(progress, event);
        progress
            .step(format!("building the new layer from {} bytes of files while it uploads", layer.plan.content_size()));
        let base_layers = base.base_layers();
        let put_base = async {
            copy::put_blobs(source, &sink, &base_layers, DEFAULT_JOBS, &mut on)
                .await
                .with_context(|| format!("pushing the layers of {} to {}", source.describe(), self.target))
        };
        let new_layer = layer_upload::build_and_upload(&client, self.target.repository(), layer.plan, layer.options);
        let ((), digests) = try_join(put_base, new_layer).await?;
        progress.step(format!(
            "blob {}: uploaded while built (the new layer, {} bytes, diffID {})",
            digests.digest, digests.size, digests.diff_id
        ));

        let appended = base.append(&NewLayer { digests, history: layer.history }, &self.changes)?;
        let (overlay, top) = base.overlay(source, &appended, None)?;
        let plan = copy::plan(&overlay, top.digest.as_str(), &Platforms::All).await?;
        let mut on = |event: CopyEvent| report(progress, event);
        // Every layer is in place: only the configs, then the manifests.
        copy::put_blobs(&overlay, &sink, &plan.configs, DEFAULT_JOBS, &mut on).await?;
        let tag = self.target.tag().unwrap_or("latest");
        let digest = copy::put_documents(&sink, &plan, Some(tag), &mut on).await?;
        Ok(self.target.with_digest(digest))
    }
}
