//! `append` from a registry to a registry, with the new layer uploaded while it is built.
//!
//! The base is resolved (manifests and configs) and the append tried with a stand-in layer
//! first, so every mistake in the base or the options fails before a byte is sent. Then two
//! things run side by side: the base's layers are checked or mounted (or streamed across
//! registries) into the target, and the layer is built straight into its upload
//! ([`crate::layer_upload`]). Only once both are done, and the layer's digests known, are
//! the configs and manifests made and pushed: a failure before that leaves no manifest and no
//! tag (at most blobs nothing points at, which the registry's garbage collection removes).

use anyhow::{bail, Context, Result};
use futures_util::future::try_join;
use layerize_core::config::{Config, ConfigChanges, History};
use layerize_core::layer::{LayerDigests, LayerOptions, Plan};
use layerize_core::manifest::{ImageManifest, Index, Manifest};
use layerize_core::mutate::{self, Appended, NewLayer};
use layerize_core::{Digest, Platform, Reference};
use layerize_registry::publish::{self, Appendage, PublishEvent, Route};
use layerize_registry::transport::native::Native;
use layerize_registry::{BlobOutcome, Client};

use crate::layer_upload;
use crate::progress::Progress;
use crate::remote::Access;
use crate::resolve;

/// A registry-to-registry append.
#[derive(Debug)]
pub(super) struct RegistryJob {
    pub base: Reference,
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
    /// Runs the append; returns the target pinned to the digest its tag now points at.
    pub(super) async fn run(self, access: &Access, layer: LayerToBuild) -> Result<Reference> {
        let source = access.client(&self.base)?;
        let dest = access.client(&self.target)?;
        let repo = self.base.repository();
        let (images, index) = self.images(&source).await?;
        let mut configs = Vec::new();
        for image in &images {
            configs.push(
                source.config(repo, image).await.with_context(|| format!("reading the config of {}", self.base))?,
            );
        }
        // What can be wrong with the base or the changes shows with any layer: find it now,
        // before anything is sent.
        let stand_in = NewLayer { digests: stand_in_digests(), history: layer.history.clone() };
        appended(&images, &configs, &stand_in, &self.changes)?;

        let route = Route {
            source: &source,
            source_repository: repo,
            dest: &dest,
            dest_repository: self.target.repository(),
            same_registry: self.base.registry() == self.target.registry(),
        };
        let progress = self.progress;
        let mut on = |event: PublishEvent| report(progress, event);
        let bases: Vec<&ImageManifest> = images.iter().collect();
        progress
            .step(format!("building the new layer from {} bytes of files while it uploads", layer.plan.content_size()));
        let base_layers = async {
            publish::push_base_layers(&route, &bases, &mut on)
                .await
                .with_context(|| format!("pushing the layers of {} to {}", self.base, self.target))
        };
        let new_layer = layer_upload::build_and_upload(&dest, self.target.repository(), layer.plan, layer.options);
        let ((), digests) = try_join(base_layers, new_layer).await?;
        progress.step(format!(
            "blob {}: uploaded while built (the new layer, {} bytes, diffID {})",
            digests.digest, digests.size, digests.diff_id
        ));

        let new_layer = NewLayer { digests, history: layer.history };
        let appended = appended(&images, &configs, &new_layer, &self.changes)?;
        let appendages: Vec<Appendage> =
            images.iter().zip(&appended).map(|(base, appended)| Appendage { base, appended }).collect();
        let tag = self.target.tag().unwrap_or("latest");
        let digest = publish::push_configs_and_manifests(&route, &appendages, index.as_ref(), tag, &mut on).await?;
        Ok(self.target.with_digest(digest))
    }

    /// The image(s) to append to: the base itself, its image for `--platform` (or this
    /// machine's), or every image of its index with `--all-platforms` (then the index too).
    async fn images(&self, source: &Client<Native>) -> Result<(Vec<ImageManifest>, Option<Index>)> {
        let repo = self.base.repository();
        let manifest = source.resolve(&self.base).await.with_context(|| format!("reading base image {}", self.base))?;
        Ok(match manifest {
            Manifest::Image(m) => {
                if let Some(wanted) = &self.platform {
                    let have = source.config(repo, &m).await?.platform();
                    if !wanted.matches(&have) {
                        bail!("{} is a single-platform image for {have}, not {wanted}", self.base);
                    }
                }
                (vec![m], None)
            }
            Manifest::Index(index) if self.all_platforms => {
                let mut all = Vec::new();
                for entry in index.manifests.iter().filter(|d| !d.is_attestation()) {
                    all.push(source.image_manifest(repo, &entry.digest).await?);
                }
                if all.is_empty() {
                    bail!("{} is an index with no images in it", self.base);
                }
                (all, Some(index))
            }
            Manifest::Index(index) => {
                let wanted = self.platform.clone().unwrap_or_else(resolve::host_platform);
                let entry = wanted
                    .select(&index.manifests)
                    .with_context(|| format!("choosing a platform from {}", self.base))?;
                self.progress.step(format!("platform {wanted}: {}", entry.digest));
                (vec![source.image_manifest(repo, &entry.digest).await?], None)
            }
        })
    }
}

/// Every image with the new layer on top and the changes applied.
fn appended(
    images: &[ImageManifest],
    configs: &[Config],
    layer: &NewLayer,
    changes: &ConfigChanges,
) -> Result<Vec<Appended>> {
    images
        .iter()
        .zip(configs)
        .map(|(image, config)| Ok(mutate::append(image, config, std::slice::from_ref(layer), changes)?))
        .collect()
}

/// Digests for the trial append, before the real ones exist (those of an empty blob).
fn stand_in_digests() -> LayerDigests {
    let empty = Digest::sha256(b"");
    LayerDigests { diff_id: empty.clone(), digest: empty, size: 0, tar_size: 0 }
}

fn report(progress: Progress, event: PublishEvent) {
    match event {
        PublishEvent::Blob { digest, outcome } => {
            let what = match outcome {
                BlobOutcome::AlreadyThere => "already there",
                BlobOutcome::Mounted => "mounted",
                BlobOutcome::Uploaded => "uploaded",
            };
            progress.step(format!("blob {digest}: {what}"));
        }
        PublishEvent::Manifest { digest } => progress.step(format!("manifest {digest}: pushed")),
        PublishEvent::Uploading { .. } => {}
    }
}
