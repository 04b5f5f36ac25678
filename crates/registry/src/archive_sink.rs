//! An image archive (the `docker save` layout with an OCI `index.json`, which `docker load`,
//! podman and skopeo read) as a sink of the one [`copy`](crate::copy::copy): blobs written as
//! they come, each image listed under its name once its manifest arrives, the rest at
//! [`ArchiveSink::finish`]. The bytes leave in pieces of about [`DRAIN`] as the archive grows,
//! to an [`ArchiveOutput`]: a temporary file in the CLI, the browser's download in the page.
//! Holding nothing but the piece being filled is what lets the page save a multi-GiB image.

use futures_util::lock::Mutex;
use futures_util::StreamExt;
use layerize_core::archive::ArchiveWriter;
use layerize_core::config::Config;
use layerize_core::descriptor::Descriptor;
use layerize_core::manifest::{ImageManifest, Manifest};
use layerize_core::{Digest, Reference};
use std::future::Future;
use std::io::Write;

use crate::copy::{read_whole, Document, ImageSink, ImageSource};
use crate::{BlobOutcome, Error};

/// Bytes gathered before they are handed to the output: few, large writes.
pub const DRAIN: usize = 1 << 20;

/// Non-layer blobs up to this size are kept in memory: configs, to list their images.
const KEPT_DOCUMENT: u64 = 4 << 20;

/// Where the archive's bytes go, in order.
pub trait ArchiveOutput {
    /// Takes the next bytes of the archive.
    fn write(&mut self, bytes: Vec<u8>) -> impl Future<Output = Result<(), Error>>;
}

/// An archive being written. It holds single images: an index (`--all-platforms`) is refused
/// before anything of it is listed.
#[derive(Debug)]
pub struct ArchiveSink<O> {
    state: Mutex<State<O>>,
}

#[derive(Debug)]
struct State<O> {
    writer: ArchiveWriter<Vec<u8>>,
    out: O,
    /// Configs written, kept to list their images (`manifest.json` names their layers by diffID).
    configs: Vec<(Digest, Vec<u8>)>,
    /// Bytes handed to `out` so far.
    written: u64,
}

/// Hands what the writer gathered in `buffer` to `out` once there is [`DRAIN`] of it: called
/// between whole blobs and, through a blob's writer, while one streams.
async fn hand_over<O: ArchiveOutput>(buffer: &mut Vec<u8>, out: &mut O, written: &mut u64) -> Result<(), Error> {
    if buffer.len() < DRAIN {
        return Ok(());
    }
    let bytes = std::mem::take(buffer);
    *written += bytes.len() as u64;
    out.write(bytes).await
}

fn single_images_only() -> Error {
    Error::Local("an archive holds single images, not indexes: choose one platform".into())
}

impl<O: ArchiveOutput> ArchiveSink<O> {
    pub fn new(out: O) -> Result<ArchiveSink<O>, Error> {
        let writer = ArchiveWriter::new(Vec::with_capacity(DRAIN)).map_err(Error::Core)?;
        Ok(ArchiveSink { state: Mutex::new(State { writer, out, configs: Vec::new(), written: 0 }) })
    }

    /// Writes the archive's end (its `index.json` and `manifest.json`); returns the output,
    /// and the archive's size in bytes or why it could not be finished. Until this succeeds
    /// the output holds no valid archive: abandon it on an error (of this or of the copy).
    pub async fn finish(self) -> (O, Result<u64, Error>) {
        let State { writer, mut out, written, .. } = self.state.into_inner();
        let size = async {
            let rest = writer.finish().map_err(Error::Core)?;
            let size = written + rest.len() as u64;
            if !rest.is_empty() {
                out.write(rest).await?;
            }
            Ok(size)
        }
        .await;
        (out, size)
    }

    /// The output, for a copy that failed: what it holds is no archive.
    pub fn abandon(self) -> O {
        self.state.into_inner().out
    }
}

impl<O: ArchiveOutput> ImageSink for ArchiveSink<O> {
    async fn put_blob<S: ImageSource>(
        &self,
        descriptor: &Descriptor,
        source: &S,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BlobOutcome, Error> {
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        if state.writer.has_blob(&descriptor.digest) {
            return Ok(BlobOutcome::AlreadyThere);
        }
        if !descriptor.media_type.is_layer() && descriptor.size <= KEPT_DOCUMENT {
            let raw = read_whole(source, descriptor).await?;
            state.writer.add_blob(descriptor, &raw).map_err(Error::Core)?;
            progress(raw.len() as u64);
            state.configs.push((descriptor.digest.clone(), raw));
            hand_over(state.writer.get_mut(), &mut state.out, &mut state.written).await?;
            return Ok(BlobOutcome::Uploaded);
        }
        // Unchecked bytes will do: the archive's blob writer hashes what it writes and fails
        // the archive on a mismatch, so nothing is hashed twice.
        let mut stream = source.blob_from(descriptor, 0).await?;
        let mut blob = state.writer.start_blob(descriptor).map_err(Error::Core)?;
        let mut done = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            blob.write_all(&chunk).map_err(|e| {
                Error::Local(format!("writing blob {} into the archive: {e}", descriptor.digest).into())
            })?;
            done += chunk.len() as u64;
            progress(done);
            hand_over(blob.get_mut(), &mut state.out, &mut state.written).await?;
        }
        blob.finish().map_err(Error::Core)?;
        Ok(BlobOutcome::Uploaded)
    }

    async fn put_manifest(&self, _document: &Document) -> Result<(), Error> {
        Err(single_images_only())
    }

    async fn put_top(&self, document: &Document, tag: Option<&str>) -> Result<(), Error> {
        let what = document.descriptor.digest.to_string();
        let image: ImageManifest = match Manifest::parse(&what, document.raw.to_vec(), None)? {
            Manifest::Image(image) => image,
            Manifest::Index(_) => return Err(single_images_only()),
        };
        let mut state = self.state.lock().await;
        let raw = state.configs.iter().find(|(d, _)| d == &image.config.digest).map(|(_, raw)| raw.clone());
        let raw = raw.ok_or_else(|| Error::Local(format!("the config of {what} was not written first").into()))?;
        let config = Config::parse(image.config.digest.as_str(), raw)?;
        let names: Vec<Reference> = tag.and_then(|t| t.parse().ok()).into_iter().collect();
        let state = &mut *state;
        state.writer.add_image(&image, &config, &names).map_err(Error::Core)?;
        hand_over(state.writer.get_mut(), &mut state.out, &mut state.written).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::{self, Platforms};
    use crate::{BodyStream, FetchedManifest};
    use bytes::Bytes;
    use layerize_core::archive::members::Members;
    use layerize_core::archive::read::{find_images, single_image};
    use layerize_core::platform::Platform;
    use std::collections::HashMap;
    use std::io::Cursor;

    /// Collects the archive in memory, in the pieces it was handed over.
    #[derive(Default)]
    struct Pieces(Vec<Vec<u8>>);

    impl ArchiveOutput for Pieces {
        async fn write(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
            self.0.push(bytes);
            Ok(())
        }
    }

    /// An image held in memory: blobs and manifests by digest.
    struct Memory(HashMap<Digest, Vec<u8>>);

    impl Memory {
        fn add(&mut self, bytes: Vec<u8>) -> Digest {
            let digest = Digest::sha256(&bytes);
            self.0.insert(digest.clone(), bytes);
            digest
        }
    }

    impl ImageSource for Memory {
        fn describe(&self) -> String {
            "memory".into()
        }

        async fn manifest(&self, selector: &str) -> Result<FetchedManifest, Error> {
            let digest: Digest = selector.parse()?;
            let raw = self.0[&digest].clone();
            Ok(FetchedManifest { raw, content_type: None, digest })
        }

        async fn blob(&self, descriptor: &Descriptor) -> Result<BodyStream, Error> {
            // In pieces of 100 KiB, as a network would hand them over.
            let bytes = Bytes::from(self.0[&descriptor.digest].clone());
            let pieces: Vec<Result<Bytes, Error>> = (0..bytes.len())
                .step_by(100 << 10)
                .map(|at| Ok(bytes.slice(at..(at + (100 << 10)).min(bytes.len()))))
                .collect();
            Ok(Box::pin(futures_util::stream::iter(pieces)))
        }
    }

    /// A 3 MiB "layer" (the archive does not look inside), its config and an OCI manifest.
    fn image(layer: Vec<u8>, served: Option<Vec<u8>>) -> (Memory, Digest) {
        let mut memory = Memory(HashMap::new());
        let layer_size = layer.len();
        let layer_digest = memory.add(layer);
        if let Some(served) = served {
            memory.0.insert(layer_digest.clone(), served);
        }
        let diff_id = Digest::sha256(b"the tar");
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}},"x-kept":1}}"#
        )
        .into_bytes();
        let config_size = config.len();
        let config_digest = memory.add(config);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer_digest}","size":{layer_size}}}]}}"#
        )
        .into_bytes();
        let top = memory.add(manifest);
        (memory, top)
    }

    fn noise(len: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_u32;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    async fn save(source: &Memory, top: &Digest) -> Result<(Pieces, u64), Error> {
        let plan = copy::plan(source, top.as_str(), &Platforms::All).await?;
        let sink = ArchiveSink::new(Pieces::default())?;
        copy::copy(source, &sink, &plan, Some("127.0.0.1:5000/app:1"), 1, &mut |_| {}).await?;
        let (pieces, size) = sink.finish().await;
        Ok((pieces, size?))
    }

    #[tokio::test]
    async fn an_image_copied_into_an_archive_reads_back_byte_for_byte() {
        let layer = noise(3 << 20);
        let (source, top) = image(layer.clone(), None);
        let (pieces, size) = save(&source, &top).await.unwrap();
        // Handed over as it grew, in pieces of about DRAIN, not as one buffer at the end.
        assert!(pieces.0.len() >= 3, "{} pieces", pieces.0.len());
        assert!(pieces.0.iter().all(|p| p.len() < DRAIN + (100 << 10) + 1024), "a piece over DRAIN");
        let tar: Vec<u8> = pieces.0.concat();
        assert_eq!(tar.len() as u64, size);

        let members = Members::scan(Cursor::new(&tar)).unwrap();
        let found =
            find_images(&members, &mut Cursor::new(&tar), &Platform::new("linux", "amd64", None), false).unwrap();
        let (manifest, config, layers) = single_image(found, &Platform::new("linux", "amd64", None)).unwrap();
        assert_eq!(manifest.raw(), &source.0[&top][..], "the manifest keeps its bytes");
        assert!(std::str::from_utf8(config.raw()).unwrap().contains(r#""x-kept":1"#));
        let stored = members.file(&layers[0].member.path, "test").unwrap().read_all(&mut Cursor::new(&tar)).unwrap();
        assert_eq!(stored, layer);
    }

    #[tokio::test]
    async fn a_blob_that_is_not_what_its_descriptor_says_fails_the_archive() {
        let layer = noise(1 << 20);
        let mut lie = layer.clone();
        lie[500_000] ^= 1;
        let (source, top) = image(layer, Some(lie));
        let err = save(&source, &top).await.err().expect("a damaged blob must fail the archive");
        assert!(err.to_string().contains("digest"), "{err}");
    }

    #[tokio::test]
    async fn an_index_is_refused_in_words() {
        let (mut source, top) = image(noise(1000), None);
        let manifest_size = source.0[&top].len();
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{top}","size":{manifest_size},"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        );
        let index = source.add(index.into_bytes());
        let err = save(&source, &index).await.err().expect("an index cannot go into an archive");
        assert!(err.to_string().contains("single images"), "{err}");
    }
}
