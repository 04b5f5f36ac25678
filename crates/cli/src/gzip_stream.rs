//! Gzipping a blob while it uploads: a thread takes the plain chunks (already checked against
//! their diffID) through the core's fast gzip profile on the deflate pool, and the compressed
//! bytes come back as a stream through a small bounded channel, so the upload, the reading and
//! the deflating overlap and memory stays at a few blocks whatever the layer's size.

use std::io::{self, Write};

use bytes::{Bytes, BytesMut};
use layerize_core::layer::gzip::{GzipWriter, Profile};
use layerize_registry::Error;
use tokio::sync::mpsc::{channel, Receiver, Sender};

use crate::blob_source::Chunks;
use crate::deflate::Parallel;

/// Compressed pieces in flight between the gzip thread and the upload.
const DEPTH: usize = 4;
/// Bytes per piece: blocks come out of the pool anywhere between a few bytes (the header, a
/// block of zeros) and just over 1 MiB (a stored block); even pieces keep what waits in the
/// channels small.
const PIECE: usize = 256 << 10;

/// What the gzip thread sends: compressed bytes, then `None` once the stream is complete. A
/// channel that closes without `None` means the thread died, and the blob is not complete.
type Piece = Result<Option<Bytes>, Error>;

/// The gzip blob (fast profile, one deflate worker per core) of `plain`, as a stream. An
/// error from `plain` (a read failure, a digest or diffID mismatch) ends the stream in that
/// error, so an upload of it is never committed.
pub fn gzip_fast(plain: impl Iterator<Item = Result<Bytes, Error>> + Send + 'static) -> Chunks {
    let (tx, rx) = channel::<Piece>(DEPTH);
    std::thread::spawn(move || {
        let end = compress(plain, &tx).map(|()| None);
        // The receiver is gone only when the upload stopped; nobody is left to tell.
        let _ = tx.blocking_send(end);
    });
    Box::pin(futures_util::stream::unfold(Some(rx), |rx| async move {
        let mut rx: Receiver<Piece> = rx?;
        match rx.recv().await {
            Some(Ok(Some(bytes))) => Some((Ok(bytes), Some(rx))),
            Some(Ok(None)) => None,
            Some(Err(e)) => Some((Err(e), None)),
            None => Some((
                Err(Error::Source(io::Error::other("the gzip thread stopped before the end of the layer"))),
                None,
            )),
        }
    }))
}

fn compress(plain: impl Iterator<Item = Result<Bytes, Error>>, tx: &Sender<Piece>) -> Result<(), Error> {
    let sink = ChannelWriter { tx, buf: BytesMut::new() };
    let mut gzip =
        GzipWriter::with_profile(sink, Parallel::for_this_machine(), Profile::Fast).map_err(Error::Source)?;
    for chunk in plain {
        gzip.write_all(&chunk?).map_err(Error::Source)?;
    }
    gzip.finish().and_then(ChannelWriter::send_rest).map_err(Error::Source)
}

/// Cuts the compressed bytes into pieces of [`PIECE`] and sends them, waiting while the
/// channel is full (the upload is behind), which in turn holds back the reading.
struct ChannelWriter<'a> {
    tx: &'a Sender<Piece>,
    buf: BytesMut,
}

impl ChannelWriter<'_> {
    fn send(&mut self) -> io::Result<()> {
        let piece = self.buf.split().freeze();
        self.tx.blocking_send(Ok(Some(piece))).map_err(|_| io::Error::other("the upload stopped"))
    }

    fn send_rest(mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.send()
    }
}

impl Write for ChannelWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = bytes.len().min(PIECE - self.buf.len());
        self.buf.extend_from_slice(&bytes[..n]);
        if self.buf.len() == PIECE {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::io::Read;

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
