//! Choosing the one image a reference means: the manifest itself, or an index's entry for a
//! platform (this machine's unless one is asked for, as Docker and skopeo choose).

use anyhow::{bail, Context, Result};
use layerize_core::manifest::{ImageManifest, Manifest};
use layerize_core::{Platform, Reference};
use layerize_registry::transport::native::Native;
use layerize_registry::Client;

use crate::progress::Progress;

/// The platform taken from an index when none is asked for.
pub fn host_platform() -> Platform {
    Platform::from_rust("linux", std::env::consts::ARCH)
}

/// Parses `--platform`, if given.
pub fn platform_arg(arg: Option<&str>) -> Result<Option<Platform>> {
    Ok(arg.map(str::parse).transpose()?)
}

/// Resolves `reference` and takes its image for `platform` as [`image`] does, saying on
/// `progress` which entry of an index it took.
pub async fn resolve_image(
    client: &Client<Native>,
    reference: &Reference,
    platform: Option<&Platform>,
    progress: Progress,
) -> Result<ImageManifest> {
    let top = client.resolve(reference).await.with_context(|| format!("reading {reference}"))?;
    let from_index = matches!(top, Manifest::Index(_));
    let chosen = image(client, reference, top, platform).await?;
    if from_index {
        let wanted = platform.cloned().unwrap_or_else(host_platform);
        progress.step(format!("{reference}: platform {wanted}: {}", chosen.digest()));
    }
    Ok(chosen)
}

/// The image `manifest` (what `reference` resolved to) stands for on `platform`. A single
/// image must be for that platform when one is asked for; an index gives its entry for it.
pub async fn image(
    client: &Client<Native>,
    reference: &Reference,
    manifest: Manifest,
    platform: Option<&Platform>,
) -> Result<ImageManifest> {
    let repository = reference.repository();
    match manifest {
        Manifest::Image(image) => {
            if let Some(wanted) = platform {
                let have = client
                    .config(repository, &image)
                    .await
                    .with_context(|| format!("reading the config of {reference} to check its platform"))?
                    .platform();
                if !wanted.matches(&have) {
                    bail!("{reference} is a single-platform image for {have}, not {wanted}");
                }
            }
            Ok(image)
        }
        Manifest::Index(index) => {
            let wanted = platform.cloned().unwrap_or_else(host_platform);
            let entry =
                wanted.select(&index.manifests).with_context(|| format!("choosing a platform from {reference}"))?;
            let image = client
                .image_manifest(repository, &entry.digest)
                .await
                .with_context(|| format!("reading the {wanted} image of {reference}"))?;
            Ok(image)
        }
    }
}
