//! Gzipping a blob while it uploads: a thread takes the plain chunks (already checked against
//! their diffID) through the core's fast gzip profile on the deflate pool, and the compressed
//! bytes come back as a stream through a [`crate::byte_pipe`], so the upload, the reading and
//! the deflating overlap and memory stays at a few blocks whatever the layer's size.

use std::io::Write;

use bytes::Bytes;
use layerize_core::layer::gzip::{GzipWriter, Profile};
use layerize_registry::Error;

use crate::blob_source::Chunks;
use crate::byte_pipe::{pipe, PipeWriter};
use crate::deflate::Parallel;

/// The gzip blob (fast profile, one deflate worker per core) of `plain`, as a stream. An
/// error from `plain` (a read failure, a digest or diffID mismatch) ends the stream in that
/// error, so an upload of it is never committed.
pub fn gzip_fast(plain: impl Iterator<Item = Result<Bytes, Error>> + Send + 'static) -> Chunks {
    let (writer, stream) = pipe("the gzip thread stopped before the end of the layer");
    let failer = writer.failer();
    std::thread::spawn(move || {
        if let Err(e) = compress(plain, writer) {
            failer.fail(e);
        }
    });
    stream
}

fn compress(plain: impl Iterator<Item = Result<Bytes, Error>>, sink: PipeWriter) -> Result<(), Error> {
    let mut gzip =
        GzipWriter::with_profile(sink, Parallel::for_this_machine(), Profile::Fast).map_err(Error::Source)?;
    for chunk in plain {
        gzip.write_all(&chunk?).map_err(Error::Source)?;
    }
    gzip.finish().and_then(PipeWriter::finish).map_err(Error::Source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::io::{self, Read};

    fn collect(stream: Chunks) -> Vec<Result<Bytes, Error>> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(stream.collect())
    }

    #[test]
    fn the_stream_is_the_fast_profile_of_the_input() {
        let plain: Vec<u8> = b"some text, some more text\n".iter().copied().cycle().take(3 << 20).collect();
        let chunks: Vec<Result<Bytes, Error>> = plain.chunks(100_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let gz: Vec<u8> = collect(gzip_fast(chunks.into_iter())).into_iter().flat_map(|c| c.unwrap()).collect();
        let mut expected =
            GzipWriter::with_profile(Vec::new(), layerize_core::layer::gzip::Sequential, Profile::Fast).unwrap();
        expected.write_all(&plain).unwrap();
        assert_eq!(gz, expected.finish().unwrap());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, plain);
    }

    #[test]
    fn a_failing_input_ends_the_stream_in_its_error() {
        let chunks = vec![Ok(Bytes::from(vec![7u8; 3 << 20])), Err(Error::Source(io::Error::other("diffID mismatch")))];
        let items = collect(gzip_fast(chunks.into_iter()));
        let last = items.last().unwrap();
        assert!(matches!(last, Err(e) if e.to_string().contains("diffID mismatch")), "{last:?}");
        assert!(items[..items.len() - 1].iter().all(Result::is_ok));
    }
}
