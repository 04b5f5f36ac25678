//! Opening an image tar the person picked (`docker save`, `podman save`, skopeo,
//! `layerize save`): the core's archive reader finds member offsets in one pass over the
//! headers and checks manifest and config against their digests; the page then takes each
//! base layer as a slice of the file, never reading it whole. A `File` can be read
//! synchronously only here, in the worker.

use std::io::{Read, Seek};

use layerize_core::archive::{find_images, single_image, Members};
use layerize_core::Platform;
use web_sys::{Blob, FileReaderSync};

use super::file_read::FileRead;
use super::Error;
use crate::blob_parts::BlobParts;
use crate::protocol::open_archive::{ArchiveImage, LayerSpan, Opened};
use crate::protocol::OpenArchive;

/// Reads the image tar of `job` (its errors named by the file's name); returns the image and
/// the plain tar its layers are sliced from: the file itself, or, when it is gzipped, the tar
/// decompressed into Blob parts first (layers must be read by offset; Chromium keeps large
/// Blobs on disk).
pub fn open(job: OpenArchive) -> Result<Opened, Error> {
    let what = job.file.name();
    opened(job.file.into()).map_err(|e| Error::Archive { what, source: Box::new(e) })
}

fn opened(file: Blob) -> Result<Opened, Error> {
    let reader = FileReaderSync::new().map_err(|e| Error::browser("reading the file", &e))?;
    let read = |blob: &Blob| FileRead::new(blob.clone(), reader.clone());
    let mut magic = [0u8; 2];
    let gzipped = read(&file).read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let tar = if gzipped {
        let mut out = BlobParts::new();
        // Only the tar is kept, checked as it streams: a gzip bomb stops at its first block.
        layerize_core::archive::copy_tar(flate2::read::MultiGzDecoder::new(read(&file)), &mut out)?;
        out.finish().map_err(|e| Error::browser("keeping the gunzipped tar", &e))?
    } else {
        file
    };
    let image = read_image(read(&tar))?;
    Ok(Opened { image, tar })
}

/// Reads the one image of a plain tar (for an index, linux/amd64's, else its first).
fn read_image<R: Read + Seek>(mut reader: R) -> Result<ArchiveImage, Error> {
    let members = Members::scan(&mut reader)?;
    let platform = Platform::new("linux", "amd64", None);
    let found = find_images(&members, &mut reader, &platform, false)?;
    let names = match found.as_slice() {
        [one] => one.names.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    };
    let (manifest, config, layers) = single_image(found, &platform)?;
    Ok(ArchiveImage {
        manifest: manifest.raw().to_vec(),
        config: config.raw().to_vec(),
        layers: layers
            .iter()
            .map(|l| LayerSpan { digest: l.descriptor.digest.clone(), offset: l.member.offset, size: l.member.size })
            .collect(),
        names,
    })
}
