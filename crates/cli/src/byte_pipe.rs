//! Bytes made by a blocking thread (a gzip, a layer build) handed to async code as a stream,
//! through a small bounded channel: the thread waits while the channel is full (the upload
//! reading the stream is behind), so memory stays at a few pieces whatever the size of the
//! whole, and the stream ends cleanly only when the thread says its bytes are complete.

use std::io::{self, Write};

use bytes::{Bytes, BytesMut};
use layerize_registry::Error;
use tokio::sync::mpsc::{channel, Receiver, Sender};

use crate::blob_source::Chunks;

/// Pieces in flight between the thread and the stream's reader.
const DEPTH: usize = 4;
/// Bytes per piece: a producer writes anything from a few bytes (a gzip header, a block of
/// zeros) to over 1 MiB (a stored block) at once; even pieces keep what waits small.
const PIECE: usize = 256 << 10;

/// What goes through the channel: bytes, then `None` once they are complete, or an error. A
/// channel that closes without either means the thread died, and the bytes are not complete.
type Piece = Result<Option<Bytes>, Error>;

/// A pipe whose stream, if the thread stops without [`PipeWriter::finish`] or
/// [`PipeFailer::fail`], ends in an error saying `stopped` (what stopped before the end).
pub fn pipe(stopped: &'static str) -> (PipeWriter, Chunks) {
    let (tx, rx) = channel::<Piece>(DEPTH);
    let stream = futures_util::stream::unfold(Some(rx), move |rx| async move {
        let mut rx: Receiver<Piece> = rx?;
        match rx.recv().await {
            Some(Ok(Some(bytes))) => Some((Ok(bytes), Some(rx))),
            Some(Ok(None)) => None,
            Some(Err(e)) => Some((Err(e), None)),
            None => Some((Err(Error::Source(io::Error::other(stopped))), None)),
        }
    });
    (PipeWriter { tx, buf: BytesMut::new() }, Box::pin(stream))
}

/// The thread's end: a `Write` that cuts its bytes into pieces and sends them, waiting while
/// the channel is full. A write fails with `BrokenPipe` once the stream's reader is gone.
#[derive(Debug)]
pub struct PipeWriter {
    tx: Sender<Piece>,
    buf: BytesMut,
}

impl PipeWriter {
    /// A second handle to end the stream in an error, for when the writer itself is gone
    /// (moved into a gzip or layer writer that failed and was dropped).
    pub fn failer(&self) -> PipeFailer {
        PipeFailer { tx: self.tx.clone() }
    }

    /// Sends what is left and ends the stream cleanly: the bytes are complete.
    pub fn finish(mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.send()?;
        }
        self.tx.blocking_send(Ok(None)).map_err(|_| gone())
    }

    fn send(&mut self) -> io::Result<()> {
        let piece = self.buf.split().freeze();
        self.tx.blocking_send(Ok(Some(piece))).map_err(|_| gone())
    }
}

impl Write for PipeWriter {
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

/// Ends a pipe's stream in an error (see [`PipeWriter::failer`]).
#[derive(Debug)]
pub struct PipeFailer {
    tx: Sender<Piece>,
}

impl PipeFailer {
    /// Whether the stream's reader is gone: a failure of the writer then came from there
    /// (the upload stopped), not from the thread's own input.
    pub fn reader_gone(&self) -> bool {
        self.tx.is_closed()
    }

    /// Ends the stream in `error`, so an upload reading it is never committed.
    pub fn fail(self, error: Error) {
        // The reader is gone only when the upload stopped; nobody is left to tell.
        let _ = self.tx.blocking_send(Err(error));
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the upload reading these bytes stopped")
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn collect(stream: Chunks) -> Vec<Result<Bytes, Error>> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(stream.collect())
    }

    #[test]
    fn pieces_arrive_whole_and_in_order() {
        let (mut writer, stream) = pipe("stopped");
        let data: Vec<u8> = (0..(3 * PIECE + 17) as u32).map(|i| (i % 251) as u8).collect();
        let thread = std::thread::spawn(move || {
            for chunk in data.chunks(100_000) {
                writer.write_all(chunk).unwrap();
            }
            writer.finish().unwrap();
            data
        });
        let got: Vec<u8> = collect(stream).into_iter().flat_map(|c| c.unwrap()).collect();
        assert_eq!(got, thread.join().unwrap());
    }

    #[test]
    fn a_thread_that_stops_early_ends_the_stream_in_an_error() {
        let (mut writer, stream) = pipe("the producer stopped before the end");
        std::thread::spawn(move || writer.write_all(&[1; PIECE + 1]).unwrap());
        let items = collect(stream);
        assert!(items[0].is_ok());
        assert!(matches!(items.last(), Some(Err(e)) if e.to_string().contains("stopped before the end")));
    }

    #[test]
    fn a_failure_is_the_last_item_and_a_gone_reader_is_seen() {
        let (writer, stream) = pipe("stopped");
        let failer = writer.failer();
        drop(writer);
        std::thread::spawn(move || failer.fail(Error::Source(io::Error::other("size changed"))));
        let items = collect(stream);
        assert!(matches!(&items[..], [Err(e)] if e.to_string().contains("size changed")), "{items:?}");

        let (mut writer, stream) = pipe("stopped");
        drop(stream);
        assert!(writer.failer().reader_gone());
        let e = writer.write_all(&[0; PIECE]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
