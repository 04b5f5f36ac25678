//! `append` with an archive on either side: the base read from an archive (its blobs checked
//! as they go), and/or the result written to one (`-o`) instead of pushed. A `scratch` base
//! (no layers, nothing to read) takes this path too.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use layerize_core::archive::{single_image, ArchivedBlob};
use layerize_core::config::{Config, ConfigChanges};
use layerize_core::descriptor::Descriptor;
use layerize_core::manifest::ImageManifest;
use layerize_core::mutate::{self, NewLayer};
use layerize_core::{Platform, Reference};
use layerize_registry::transport::native::Native;
use layerize_registry::Client;

use super::Base;
use crate::archive_file::ArchiveFile;
use crate::archive_out::OutputArchive;
use crate::blob_source::Blob;
use crate::progress::Progress;
use crate::remote::Access;
use crate::resolve;
use crate::upload::{push_blobs, put_manifests, Destination, ManifestPut, Pushed, Upload};

/// An append where the base or the result (or both) is an archive.
#[derive(Debug)]
pub(super) struct ArchiveJob {
    pub base: Base,
    pub target: Option<Reference>,
    pub output: Option<PathBuf>,
    pub platform: Option<Platform>,
    pub changes: ConfigChanges,
    pub progress: Progress,
}

/// Where the base's layers are read from (`None`: `scratch` has none).
enum Layers<'a> {
    Registry { client: &'a Client<Native>, repository: &'a str },
    Archive { archive: &'a ArchiveFile, layers: Vec<ArchivedBlob> },
    None,
}

impl Layers<'_> {
    fn source(&self, index: usize, descriptor: &Descriptor) -> Result<Blob<'_>> {
        Ok(match self {
            Layers::Registry { client, repository } => {
                Blob::Remote { client, repository, digest: descriptor.digest.clone() }
            }
            Layers::Archive { archive, layers } => {
                Blob::Archive(archive.blob(layers.get(index).context("a base layer is missing")?))
            }
            Layers::None => bail!("the scratch base has no layer {index}"),
        })
    }
}

impl ArchiveJob {
    /// Runs the append; returns what to print (`name@digest`, or the digest for an unnamed
    /// image in an archive).
    pub(super) async fn run(self, access: &Access, new_layer: NewLayer, layer_file: &Path) -> Result<String> {
        let registry_client;
        let archive;
        let (base, config, layers) = match &self.base {
            Base::Registry(reference) => {
                registry_client = access.client(reference)?;
                let repo = reference.repository();
                let m = resolve::resolve_image(&registry_client, reference, self.platform.as_ref(), self.progress)
                    .await
                    .with_context(|| format!("reading base image {reference}"))?;
                let c = registry_client
                    .config(repo, &m)
                    .await
                    .with_context(|| format!("reading the config of {reference}"))?;
                (m, c, Layers::Registry { client: &registry_client, repository: repo })
            }
            Base::Archive(path) => {
                archive = ArchiveFile::open(path)?;
                let wanted = self.platform.clone().unwrap_or_else(resolve::host_platform);
                let found = archive.find(&wanted, self.platform.is_some())?;
                let (manifest, config, blobs) =
                    single_image(found, &wanted).with_context(|| format!("reading base image {}", path.display()))?;
                (manifest, config, Layers::Archive { archive: &archive, layers: blobs })
            }
            Base::Scratch => {
                let platform = self.platform.clone().unwrap_or_else(resolve::host_platform);
                let (manifest, config) = resolve::scratch(&platform)?;
                self.progress.step(format!("base: scratch, an empty {platform} image"));
                (manifest, config, Layers::None)
            }
        };
        let appended = mutate::append(&base, &config, std::slice::from_ref(&new_layer), &self.changes)?;
        let (manifest, new_config) = appended.image()?;

        // Blobs in manifest order: the base's layers, the new layer, the config.
        let mut blobs: Vec<(Descriptor, Blob)> = Vec::new();
        for (i, layer) in base.layers.iter().enumerate() {
            blobs.push((layer.clone(), layers.source(i, layer)?));
        }
        for layer in &appended.layers {
            blobs.push((layer.clone(), Blob::File(layer_file.to_owned())));
        }
        blobs.push((appended.config_descriptor.clone(), Blob::Memory(Bytes::from(appended.config.clone()))));

        match &self.output {
            Some(path) => self.write(path, blobs, &manifest, &new_config).await,
            None => self.push(access, blobs, &manifest).await,
        }
    }

    async fn write(
        &self,
        path: &Path,
        blobs: Vec<(Descriptor, Blob<'_>)>,
        manifest: &ImageManifest,
        config: &Config,
    ) -> Result<String> {
        let mut out = OutputArchive::create(path)?;
        for (descriptor, source) in blobs {
            out.add_blob(&descriptor, source)
                .await
                .with_context(|| format!("writing blob {} to {}", descriptor.digest, path.display()))?;
        }
        let names: Vec<Reference> = self.target.iter().cloned().collect();
        out.add_image(manifest, config, &names)?;
        out.persist()?;
        self.progress.step(format!("wrote {}", path.display()));
        Ok(match &self.target {
            Some(t) => t.with_digest(manifest.digest().clone()).to_string(),
            None => manifest.digest().to_string(),
        })
    }

    async fn push(
        &self,
        access: &Access,
        blobs: Vec<(Descriptor, Blob<'_>)>,
        manifest: &ImageManifest,
    ) -> Result<String> {
        let Some(target) = &self.target else { bail!("nothing to do: give -t to push or -o to write an archive") };
        let client = access.client(target)?;
        let mount_from = match &self.base {
            Base::Registry(b) if b.registry() == target.registry() => Some(b.repository().to_owned()),
            _ => None,
        };
        let dest = Destination { client: &client, repository: target.repository().to_owned(), mount_from };
        let uploads = blobs.into_iter().map(|(descriptor, source)| Upload::Blob(descriptor, source)).collect();
        push_blobs(&dest, uploads, &mut Pushed::default(), self.progress).await?;
        let tag = target.tag().unwrap_or("latest").to_owned();
        let put = ManifestPut { bytes: manifest.raw(), media_type: manifest.media_type(), reference: tag };
        let digest = put_manifests(&dest, &[put], self.progress).await?.unwrap_or_else(|| manifest.digest().clone());
        Ok(target.with_digest(digest).to_string())
    }
}
