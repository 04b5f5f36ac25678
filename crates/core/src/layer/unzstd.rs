//! zstd streams decompressed as they are read, with a pure-Rust decoder (`ruzstd`) so the page
//! reads zstd layers (`application/vnd.oci.image.layer.v1.tar+zstd`) as the CLI does.
//!
//! A stream may hold several frames one after the other, and skippable frames among them
//! (zstd:chunked layers are built that way); they are read in turn, like `zstd -d` does.
//! `ruzstd`'s own `StreamingDecoder` stops after the first frame, hence this reader.

use std::io::{self, BufRead, Read};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

/// A zstd stream as its decompressed bytes.
pub struct Unzstd<R: BufRead> {
    inner: R,
    decoder: FrameDecoder,
    /// Whether a frame has been started and not yet drained.
    in_frame: bool,
    /// Whether a frame has been read: before one, the end of the input is an error.
    frames: u64,
    /// Compare each frame's content checksum (when it has one) with the decoded bytes'.
    check: bool,
}

impl<R: BufRead> std::fmt::Debug for Unzstd<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unzstd").field("frames", &self.frames).finish_non_exhaustive()
    }
}

impl<R: BufRead> Unzstd<R> {
    /// Reads zstd frames from `inner`. With `check`, each frame's xxhash checksum is verified
    /// (a caller that holds the blob to its sha256 digest may skip it).
    pub fn new(inner: R, check: bool) -> Unzstd<R> {
        Unzstd { inner, decoder: FrameDecoder::new(), in_frame: false, frames: 0, check }
    }

    /// Starts the next frame, skipping skippable ones; `false` at the end of the input.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.inner.fill_buf()?.is_empty() {
                if self.frames == 0 {
                    return Err(invalid("the zstd stream holds no frame".into()));
                }
                return Ok(false);
            }
            match self.decoder.reset(&mut self.inner) {
                Ok(()) => {
                    self.frames += 1;
                    self.in_frame = true;
                    return Ok(true);
                }
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame { length, .. })) => {
                    let skipped = io::copy(&mut (&mut self.inner).take(u64::from(length)), &mut io::sink())?;
                    if skipped != u64::from(length) {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "a skippable zstd frame is cut short",
                        ));
                    }
                }
                Err(e) => return Err(invalid(format!("not a zstd frame: {e}"))),
            }
        }
    }

    /// Checks the finished frame's checksum, once all of its bytes were handed out.
    fn end_frame(&mut self) -> io::Result<()> {
        self.in_frame = false;
        if !self.check {
            return Ok(());
        }
        match (self.decoder.get_checksum_from_data(), self.decoder.get_calculated_checksum()) {
            (Some(stored), Some(computed)) if stored != computed => Err(invalid(format!(
                "zstd frame {} fails its checksum (stored {stored:08x}, computed {computed:08x})",
                self.frames
            ))),
            _ => Ok(()),
        }
    }
}

impl<R: BufRead> Read for Unzstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame && !self.next_frame()? {
                return Ok(0);
            }
            while self.decoder.can_collect() == 0 && !self.decoder.is_finished() {
                self.decoder.decode_blocks(&mut self.inner, BlockDecodingStrategy::UptoBlocks(1)).map_err(|e| {
                    if ends_early(&e) {
                        io::Error::new(io::ErrorKind::UnexpectedEof, format!("the zstd stream is cut short: {e}"))
                    } else {
                        invalid(format!("invalid zstd data: {e}"))
                    }
                })?;
            }
            if self.decoder.can_collect() > 0 {
                return self.decoder.read(buf);
            }
            self.end_frame()?;
        }
    }
}

/// Whether decoding failed because the input ended (somewhere in `e`'s chain of causes).
fn ends_early(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::UnexpectedEof) {
            return true;
        }
        cause = e.source();
    }
    false
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruzstd::encoding::{compress_to_vec, CompressionLevel};

    fn zstd(data: &[u8]) -> Vec<u8> {
        compress_to_vec(data, CompressionLevel::Fastest)
    }

    fn unzstd(blob: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Unzstd::new(blob, true).read_to_end(&mut out)?;
        Ok(out)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8 ^ (i / 4096) as u8).collect()
    }

    #[test]
    fn frames_and_skippable_frames_read_in_turn() {
        let (a, b) = (data(300_000), b"second frame".to_vec());
        assert_eq!(unzstd(&zstd(&a)).unwrap(), a);
        let mut blob = zstd(&a);
        // A skippable frame (magic 0x184D2A5?, little-endian length, then that many bytes).
        blob.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
        blob.extend(zstd(&b));
        assert_eq!(unzstd(&blob).unwrap(), [a, b].concat());
    }

    #[test]
    fn bad_streams_are_errors() {
        let blob = zstd(&data(100_000));
        let cut = unzstd(&blob[..blob.len() / 2]).unwrap_err();
        assert_eq!(cut.kind(), io::ErrorKind::UnexpectedEof, "{cut}");
        let mut trailing = blob.clone();
        trailing.extend_from_slice(b"garbage!");
        assert!(unzstd(&trailing).unwrap_err().to_string().contains("not a zstd frame"));
        assert!(unzstd(b"").unwrap_err().to_string().contains("no frame"));
    }
}
