//! An image saved by the page as a tar that `docker load`, `podman load` and skopeo read,
//! through the one copy (as `layerize save`): the image is an overlay of the base's blobs
//! (its repository, through the proxy; or slices of the image tar it came from) and what the
//! page made (the built layer's Blob, the new config and manifest), and the sink is the
//! registry crate's archive writer, its output handed to a [`Destination`] as it grows.
//!
//! Layers stay the registry's compressed blobs and configs and manifests keep their bytes, so
//! the image ID after `docker load` is the config digest. Every blob is checked against its
//! descriptor as it is written (by the archive writer, which hashes what it writes); a
//! mismatch stops the save and the destination is abandoned.

use std::cell::Cell;
use std::rc::Rc;

use layerize_core::mutate::Appended;
use layerize_core::Reference;
use layerize_registry::archive_sink::{ArchiveOutput, ArchiveSink};
use layerize_registry::copy::{self, CopyEvent, Overlay, Platforms};
use layerize_registry::Error;
use web_sys::Blob;

use super::Error as PageError;
use crate::page::api::{self, BaseBlobs, BaseImage, Logins, WebBlob};
use crate::page::archive_base::ArchiveBase;
use crate::page::download::Destination;

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

/// The destination, counting what it was handed.
struct Counted {
    out: Destination,
    written: Rc<Cell<u64>>,
}

impl ArchiveOutput for Counted {
    async fn write(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
        self.out.write(&bytes).await.map_err(|e| Error::Local(e.into()))?;
        self.written.set(self.written.get() + bytes.len() as u64);
        Ok(())
    }
}

/// Writes the image of `job` to `out` and completes it; returns the tar's size. On an error
/// `out` is abandoned (a picked file keeps what it held before).
pub async fn save(job: SaveJob, out: Destination, on: &mut dyn FnMut(SaveProgress)) -> Result<u64, PageError> {
    let SaveJob { base, logins, image, built, name, archive } = job;
    let base_client = match archive {
        Some(_) => None,
        None => Some(api::client(&base, &logins)?),
    };
    let base_blobs = BaseBlobs::new(archive.as_ref(), base_client.as_ref(), &base)?;
    let mut overlay = Overlay::new(&base_blobs);
    let top = match &built {
        None => {
            overlay.add_document(image.config.raw().to_vec(), image.manifest.config.media_type.clone());
            overlay.add_document(image.manifest.raw().to_vec(), image.manifest.media_type().clone())
        }
        Some((appended, layer)) => {
            overlay.add_document(appended.config.clone(), appended.config_descriptor.media_type.clone());
            if let Some(new) = appended.layers.first() {
                overlay.add_blob(new.digest.clone(), WebBlob(layer.clone()));
            }
            overlay.add_document(appended.manifest.clone(), appended.manifest_descriptor.media_type.clone())
        }
    };
    let plan = copy::plan(&overlay, top.digest.as_str(), &Platforms::All).await?;
    let written = Rc::new(Cell::new(0));
    let sink = ArchiveSink::new(Counted { out, written: written.clone() })?;
    let mut progress = SaveProgress { total: plan.blob_bytes(), ..SaveProgress::default() };
    on(progress);
    // Bytes of blobs finished, and of the one in progress.
    let mut finished = 0;
    let mut report = |event: CopyEvent| {
        match event {
            CopyEvent::Moved { done, .. } => progress.done = finished + done,
            CopyEvent::Blob { size, .. } => {
                finished += size;
                progress.done = finished;
            }
            CopyEvent::Started { .. } | CopyEvent::Manifest { .. } => {}
        }
        progress.written = written.get();
        on(progress);
    };
    // One blob at a time: an archive is written in order.
    let copied = copy::copy(&overlay, &sink, &plan, Some(&name.to_string()), 1, &mut report).await;
    if let Err(e) = copied {
        sink.abandon().out.abort().await;
        return Err(e.into());
    }
    match sink.finish().await {
        (counted, Ok(size)) => {
            counted.out.finish().await?;
            Ok(size)
        }
        (counted, Err(e)) => {
            counted.out.abort().await;
            Err(e.into())
        }
    }
}
