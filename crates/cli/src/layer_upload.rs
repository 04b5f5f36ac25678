//! Building a layer straight into a registry upload. The builder runs on a thread of its own
//! (its deflate work on the pool, as for a file) and its gzip bytes stream through a
//! [`crate::byte_pipe`] into [`Client::upload_hashed_blob`], which commits the blob under the
//! digest they hash to once the last byte is out: the upload overlaps the build, nothing goes
//! to disk, and memory stays at a few blocks. A build that fails part way ends the upload's
//! stream in an error, so the upload is never committed and no blob appears.

use std::fs::File;
use std::io;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use layerize_core::layer::{write_layer, LayerDigests, LayerOptions, Plan};
use layerize_registry::transport::native::Native;
use layerize_registry::{BlobSource, Client, Error};
use tokio::sync::oneshot;

use crate::blob_source::Chunks;
use crate::byte_pipe::{pipe, PipeWriter};
use crate::deflate::Parallel;

/// How the builder thread ended.
enum Built {
    Done(LayerDigests),
    /// The build's own failure: a file that cannot be read, or changed while it was read.
    Failed(layerize_core::Error),
    /// The upload stopped reading first; its error says why.
    UploadGone,
}

/// Builds the layer `plan` describes and uploads it to `repository` as it is built; returns
/// its digests once the registry has committed it. Whichever side failed first is the error:
/// the build (naming the file) or the upload (naming the registry).
pub async fn build_and_upload(
    client: &Client<Native>,
    repository: &str,
    plan: Plan<PathBuf>,
    options: LayerOptions,
) -> Result<LayerDigests> {
    let (sink, bytes) = pipe("the layer build stopped before the end of the layer");
    let (done, built) = oneshot::channel();
    std::thread::spawn(move || {
        // The receiver is gone only if this future was dropped; nobody is left to tell.
        let _ = done.send(build(plan, &options, sink));
    });
    // The stream is dropped when the upload returns, so a builder still writing stops.
    let uploaded = client.upload_hashed_blob(repository, Streamed(bytes), &mut |_| {}).await;
    let built = built.await.unwrap_or_else(|_| Built::Failed(io_error("the layer build thread stopped unexpectedly")));
    let upload_context = || format!("uploading the new layer to {repository} while building it");
    match (built, uploaded) {
        (Built::Failed(e), _) => Err(e).context("building the new layer"),
        (Built::Done(_) | Built::UploadGone, Err(e)) => Err(e).with_context(upload_context),
        (Built::UploadGone, Ok(_)) => bail!("the upload to {repository} ended before the layer build did"),
        (Built::Done(digests), Ok((digest, size))) => {
            // Two hashers over the same bytes: a difference would be a bug here, and the
            // manifest must name what the registry holds.
            if digests.digest != digest || digests.size != size {
                return Err(anyhow!(
                    "the layer was built as {} ({} bytes) but {} ({size} bytes) was uploaded",
                    digests.digest,
                    digests.size,
                    digest
                ))
                .with_context(upload_context);
            }
            Ok(digests)
        }
    }
}

/// Runs on the builder thread: the layer into `sink`, then the end of the stream, or an
/// error into it (so the upload is not committed).
fn build(plan: Plan<PathBuf>, options: &LayerOptions, sink: PipeWriter) -> Built {
    let failer = sink.failer();
    let entries = plan.into_entries();
    let open = |p: &PathBuf| File::open(p);
    let written = write_layer(&entries, options, open, Parallel::for_this_machine(), sink, &mut |_| {}).and_then(
        |(digests, sink)| sink.finish().map(|()| digests).map_err(|source| layerize_core::Error::LayerWrite { source }),
    );
    match written {
        Ok(digests) => Built::Done(digests),
        Err(_) if failer.reader_gone() => Built::UploadGone,
        Err(e) => {
            failer.fail(Error::Source(io::Error::other(format!("the layer build failed: {e}"))));
            Built::Failed(e)
        }
    }
}

fn io_error(message: &str) -> layerize_core::Error {
    layerize_core::Error::LayerWrite { source: io::Error::other(message.to_owned()) }
}

/// The layer's bytes as they come from the builder, for the upload.
struct Streamed(Chunks);

impl BlobSource for Streamed {
    type Stream = Chunks;

    async fn open(self) -> Result<Chunks, Error> {
        Ok(self.0)
    }
}
