//! The base of an append, from any source, and the appended images as one [`Overlay`] over
//! it: the new configs, manifests (and index) are documents made here, the new layer a blob
//! made here, and everything else is read from the base, so the one copy moves it to any sink.

use anyhow::{bail, Context, Result};
use layerize_core::config::{Config, ConfigChanges, History};
use layerize_core::descriptor::Descriptor;
use layerize_core::layer::LayerDigests;
use layerize_core::manifest::{ImageManifest, Index, Manifest};
use layerize_core::mutate::{self, Appended, NewLayer};
use layerize_core::{Digest, Platform};
use layerize_registry::copy::{self, ImageSource, Overlay};

use crate::blob_source::Blob;
use crate::progress::Progress;
use crate::resolve;
use crate::source::Source;

/// The image(s) appended to: the base itself, its image for `--platform` (or this machine's),
/// or every image of its index with `--all-platforms` (then the index too).
#[derive(Debug)]
pub(super) struct Resolved {
    pub images: Vec<ImageManifest>,
    pub configs: Vec<Config>,
    pub index: Option<Index>,
}

/// Reads the base `selector` names at `source` (nothing for `scratch`); `shown` names it in
/// messages as the user wrote it.
pub(super) async fn resolve(
    source: &Source<'_>,
    selector: &str,
    shown: &str,
    platform: Option<&Platform>,
    all_platforms: bool,
    progress: Progress,
) -> Result<Resolved> {
    if let Source::Nothing = source {
        let platform = platform.cloned().unwrap_or_else(resolve::host_platform);
        let (manifest, config) = resolve::scratch(&platform)?;
        progress.step(format!("base: scratch, an empty {platform} image"));
        return Ok(Resolved { images: vec![manifest], configs: vec![config], index: None });
    }
    let fetched = source.manifest(selector).await.with_context(|| format!("reading base image {shown}"))?;
    let manifest = Manifest::parse(shown, fetched.raw, fetched.content_type.as_deref())?;
    let (images, index) = match manifest {
        Manifest::Image(image) => (vec![image], None),
        Manifest::Index(index) if all_platforms => {
            let mut all = Vec::new();
            for entry in index.manifests.iter().filter(|d| !d.is_attestation()) {
                all.push(image_at(source, shown, &entry.digest).await?);
            }
            if all.is_empty() {
                bail!("{shown} is an index with no images in it");
            }
            (all, Some(index))
        }
        Manifest::Index(index) => {
            let wanted = platform.cloned().unwrap_or_else(resolve::host_platform);
            let entry = wanted.select(&index.manifests).with_context(|| format!("choosing a platform from {shown}"))?;
            progress.step(format!("platform {wanted}: {}", entry.digest));
            (vec![image_at(source, shown, &entry.digest).await?], None)
        }
    };
    let mut configs = Vec::new();
    for image in &images {
        let raw =
            copy::read_whole(source, &image.config).await.with_context(|| format!("reading the config of {shown}"))?;
        configs.push(Config::parse(image.config.digest.as_str(), raw)?);
    }
    if let (Some(wanted), None, [config]) = (platform, &index, configs.as_slice()) {
        let have = config.platform();
        if !wanted.matches(&have) {
            bail!("{shown} is a single-platform image for {have}, not {wanted}");
        }
    }
    Ok(Resolved { images, configs, index })
}

async fn image_at(source: &Source<'_>, shown: &str, digest: &Digest) -> Result<ImageManifest> {
    let what = format!("{shown} ({digest})");
    let fetched = source.manifest(digest.as_str()).await.with_context(|| format!("reading {what}"))?;
    match Manifest::parse(&what, fetched.raw, fetched.content_type.as_deref())? {
        Manifest::Image(image) => Ok(image),
        Manifest::Index(_) => bail!("{what} is an index inside an index, which is not supported"),
    }
}

impl Resolved {
    /// Every image with `layer` on top and the changes applied.
    pub fn append(&self, layer: &NewLayer, changes: &ConfigChanges) -> Result<Vec<Appended>> {
        self.images
            .iter()
            .zip(&self.configs)
            .map(|(image, config)| Ok(mutate::append(image, config, std::slice::from_ref(layer), changes)?))
            .collect()
    }

    /// Checks what can be wrong with the base or the changes, with a stand-in for the layer
    /// (the digests of an empty blob), before anything is built or sent.
    pub fn check(&self, history: &History, changes: &ConfigChanges) -> Result<()> {
        let empty = Digest::sha256(b"");
        let digests = LayerDigests { diff_id: empty.clone(), digest: empty, size: 0, tar_size: 0 };
        self.append(&NewLayer { digests, history: history.clone() }, changes).map(drop)
    }

    /// The base's layers, each once (foreign layers travel by reference).
    pub fn base_layers(&self) -> Vec<Descriptor> {
        let mut layers: Vec<Descriptor> = Vec::new();
        for layer in self.images.iter().flat_map(|i| &i.layers).filter(|l| l.urls.is_empty()) {
            if !layers.iter().any(|l| l.digest == layer.digest) {
                layers.push(layer.clone());
            }
        }
        layers
    }

    /// The appended images over `base`: their configs and manifests (and the new index) as
    /// documents, and `layer` (if given) as the new layer's bytes. Returns the source and the
    /// digest of what to tag.
    pub fn overlay<'a, 'b>(
        &self,
        base: &'a Source<'b>,
        appended: &[Appended],
        layer: Option<Blob>,
    ) -> Result<(Overlay<'a, Source<'b>, Blob>, Descriptor)> {
        let mut overlay = Overlay::new(base);
        let mut replaced = Vec::new();
        for (image, appended) in self.images.iter().zip(appended) {
            overlay.add_document(appended.config.clone(), appended.config_descriptor.media_type.clone());
            let d = overlay.add_document(appended.manifest.clone(), appended.manifest_descriptor.media_type.clone());
            replaced.push((image.digest().clone(), d));
        }
        if let (Some(layer), Some(new)) = (layer, appended.first().and_then(|a| a.layers.first())) {
            overlay.add_blob(new.digest.clone(), layer);
        }
        let top = match &self.index {
            Some(index) => {
                let (bytes, descriptor) = mutate::replace_in_index(index, &replaced)?;
                overlay.add_document(bytes, descriptor.media_type)
            }
            None => replaced.into_iter().next().map(|(_, d)| d).context("nothing was appended")?,
        };
        Ok((overlay, top))
    }
}
