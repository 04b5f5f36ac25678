//! An image saved by the page as a tar that `docker load`, `podman load` and skopeo read: the
//! core's `ArchiveWriter` (as in `layerize save`) fed blob by blob, chunk by chunk, from the
//! registry (base layers, through the proxy; or slices of the image tar the base came from)
//! and from the page (the built layer's Blob, the new config), its output drained to a
//! [`Destination`] as it grows.
//!
//! Layers stay the registry's compressed blobs and configs keep their bytes, so the image ID
//! after `docker load` is the config digest. Every blob is checked against its descriptor as
//! it is written; a mismatch stops the save and the destination is abandoned.

use bytes::Bytes;
use futures_util::StreamExt;
use layerize_core::archive::ArchiveWriter;
use layerize_core::config::Config;
use layerize_core::descriptor::Descriptor;
use layerize_core::manifest::ImageManifest;
use layerize_core::mutate::Appended;
use layerize_core::Reference;
use layerize_registry::{BlobSource, BodyStream};
use std::io::Write;
use web_sys::Blob;

use crate::api::{self, BaseImage, Logins, WebBlob};
use crate::archive_base::ArchiveBase;
use crate::download::Destination;

/// Output gathered before it is handed to the destination: few, large writes.
const DRAIN: usize = 1 << 20;

/// What to save.
#[derive(Debug)]
pub struct SaveJob {
    /// The base image's reference (its blobs are fetched from its repository).
    pub base: Reference,
    pub logins: Logins,
    pub image: BaseImage,
    /// The appended image and the built layer's bytes, to save the built image instead.
    pub built: Option<(Appended, Blob)>,
    /// The name the image gets in the archive (`docker load` tags it so).
    pub name: Reference,
    /// The image tar the base came from, if it did: its layers are read from the file.
    pub archive: Option<ArchiveBase>,
}

/// How far a save is: blob bytes done of all, and bytes of the tar written.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SaveProgress {
    pub done: u64,
    pub total: u64,
    pub written: u64,
}

/// Where one blob's bytes come from.
enum Source {
    Registry,
    Memory(Bytes),
    /// A browser Blob: the built layer, or a slice of the base's image tar.
    Blob(Blob),
}

/// Writes the image of `job` to `out` and completes it; returns the tar's size. On an error
/// `out` is abandoned (a picked file keeps what it held before).
pub async fn save(job: SaveJob, mut out: Destination, on: &mut dyn FnMut(SaveProgress)) -> Result<u64, String> {
    match write(&job, &mut out, on).await {
        Ok(written) => {
            out.finish().await?;
            Ok(written)
        }
        Err(e) => {
            out.abort().await;
            Err(e)
        }
    }
}

async fn write(job: &SaveJob, out: &mut Destination, on: &mut dyn FnMut(SaveProgress)) -> Result<u64, String> {
    let Plan { manifest, config, blobs } = plan(job)?;
    let client = api::client(&job.base, &job.logins)?;
    let repository = job.base.repository();
    let mut progress = SaveProgress { total: blobs.iter().map(|(d, _)| d.size).sum(), ..SaveProgress::default() };
    on(progress);
    let mut writer = ArchiveWriter::new(Vec::new()).map_err(|e| e.to_string())?;
    for (descriptor, source) in blobs {
        if writer.has_blob(&descriptor.digest) {
            progress.done += descriptor.size;
            continue;
        }
        let what = &descriptor.digest;
        let mut stream: BodyStream = match source {
            Source::Registry => client.blob(repository, what).await,
            Source::Memory(bytes) => Ok(Box::pin(futures_util::stream::iter([Ok(bytes)])) as BodyStream),
            Source::Blob(blob) => WebBlob(blob).open().await,
        }
        .map_err(|e| format!("reading blob {what}: {e}"))?;
        let mut blob = writer.start_blob(&descriptor).map_err(|e| e.to_string())?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("reading blob {what}: {e}"))?;
            blob.write_all(&chunk).map_err(|e| format!("writing blob {what}: {e}"))?;
            progress.done += chunk.len() as u64;
            if blob.get_mut().len() >= DRAIN {
                progress.written += drain(blob.get_mut(), out).await?;
            }
            on(progress);
        }
        blob.finish().map_err(|e| e.to_string())?;
    }
    let names = [job.name.clone()];
    writer.add_image(&manifest, &config, &names).map_err(|e| e.to_string())?;
    let rest = writer.finish().map_err(|e| e.to_string())?;
    progress.written += rest.len() as u64;
    out.write(&rest).await?;
    on(progress);
    Ok(progress.written)
}

/// Hands the gathered output to `out`; returns how many bytes that was.
async fn drain(buffer: &mut Vec<u8>, out: &mut Destination) -> Result<u64, String> {
    let bytes = std::mem::take(buffer);
    out.write(&bytes).await?;
    Ok(bytes.len() as u64)
}

/// The image to list and its blobs in manifest order: the base's layers, the built layer,
/// the config (the manifest itself is written by `add_image`).
struct Plan {
    manifest: ImageManifest,
    config: Config,
    blobs: Vec<(Descriptor, Source)>,
}

fn plan(job: &SaveJob) -> Result<Plan, String> {
    let mut blobs = Vec::new();
    for layer in &job.image.manifest.layers {
        let source = match &job.archive {
            Some(archive) => Source::Blob(archive.layer(&layer.digest)?),
            None => Source::Registry,
        };
        blobs.push((layer.clone(), source));
    }
    match &job.built {
        None => {
            let config = job.image.config.clone();
            blobs.push((job.image.manifest.config.clone(), Source::Memory(Bytes::copy_from_slice(config.raw()))));
            Ok(Plan { manifest: job.image.manifest.clone(), config, blobs })
        }
        Some((appended, layer)) => {
            let (manifest, config) = appended.image().map_err(|e| e.to_string())?;
            let new = appended.layers.first().ok_or("the built image has no new layer")?;
            blobs.push((new.clone(), Source::Blob(layer.clone())));
            blobs.push((appended.config_descriptor.clone(), Source::Memory(Bytes::from(appended.config.clone()))));
            Ok(Plan { manifest, config, blobs })
        }
    }
}
