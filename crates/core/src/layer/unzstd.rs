//! zstd streams decompressed as they are read, with a pure-Rust decoder (`ruzstd`) so the page
//! reads zstd layers (`application/vnd.oci.image.layer.v1.tar+zstd`) as the CLI does.
//!
//! A stream may hold several frames one after the other, and skippable frames among them
//! (zstd:chunked layers are built that way); they are read in turn, like `zstd -d` does.
//! `ruzstd`'s own `StreamingDecoder` stops after the first frame, hence this reader.
//!
//! [`UnzstdWriter`] is the same decompression fed chunk by chunk, for a check that sees a blob
//! as it streams past (the diffID of a zstd layer read out of an archive).

use std::io::{self, BufRead, Read, Write};

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

const ZSTD_MAGIC: u32 = 0xFD2F_B528;
/// The largest block's content (128 KiB), its header and a frame's closing checksum.
const MAX_BLOCK: usize = (128 << 10) + 3 + 4;

/// Where a [`UnzstdWriter`] is in its input.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Header,
    Block { checksum: bool },
    Skip(u64),
}

/// A zstd stream taken chunk by chunk, its decompressed bytes written to `out`. Input is held
/// only until a whole frame header or block is there (a block is at most 128 KiB), decoded
/// output beyond the frame's window is passed on at once.
pub struct UnzstdWriter<W: Write> {
    out: W,
    decoder: FrameDecoder,
    pending: Vec<u8>,
    /// Bytes of `pending` already consumed.
    start: usize,
    phase: Phase,
    frames: u64,
}

impl<W: Write> std::fmt::Debug for UnzstdWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnzstdWriter").field("frames", &self.frames).finish_non_exhaustive()
    }
}

impl<W: Write> UnzstdWriter<W> {
    pub fn new(out: W) -> UnzstdWriter<W> {
        UnzstdWriter {
            out,
            decoder: FrameDecoder::new(),
            pending: Vec::new(),
            start: 0,
            phase: Phase::Header,
            frames: 0,
        }
    }

    /// Checks that the stream ended after a whole frame and returns `out`.
    pub fn finish(mut self) -> io::Result<W> {
        self.decode()?;
        if self.frames == 0 {
            return Err(invalid("the zstd stream holds no frame".into()));
        }
        if !matches!(self.phase, Phase::Header) || self.start != self.pending.len() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the zstd stream is cut short"));
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// Decodes every whole header and block that `pending` holds.
    fn decode(&mut self) -> io::Result<()> {
        loop {
            let input = &self.pending[self.start..];
            match self.phase {
                Phase::Skip(left) => {
                    let n = input.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.start += n;
                    if n as u64 == left {
                        self.phase = Phase::Header;
                    } else {
                        self.phase = Phase::Skip(left - n as u64);
                        return Ok(());
                    }
                }
                Phase::Header => {
                    let Some(magic) = input.get(..4).map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]])) else {
                        return Ok(());
                    };
                    if (0x184D_2A50..=0x184D_2A5F).contains(&magic) {
                        let Some(len) = input.get(4..8) else { return Ok(()) };
                        self.phase = Phase::Skip(u64::from(u32::from_le_bytes([len[0], len[1], len[2], len[3]])));
                        self.start += 8;
                        continue;
                    }
                    if magic != ZSTD_MAGIC {
                        return Err(invalid(format!("not a zstd frame (it starts with {magic:#010x})")));
                    }
                    let Some(&descriptor) = input.get(4) else { return Ok(()) };
                    let single_segment = descriptor & 0x20 != 0;
                    let dict_id = [0, 1, 2, 4][usize::from(descriptor & 3)];
                    let content_size = match descriptor >> 6 {
                        0 if single_segment => 1,
                        0 => 0,
                        1 => 2,
                        2 => 4,
                        _ => 8,
                    };
                    let len = 5 + usize::from(!single_segment) + dict_id + content_size;
                    let Some(mut header) = input.get(..len) else { return Ok(()) };
                    self.decoder.reset(&mut header).map_err(|e| invalid(format!("not a zstd frame: {e}")))?;
                    self.start += len;
                    self.frames += 1;
                    self.phase = Phase::Block { checksum: descriptor & 0x04 != 0 };
                }
                Phase::Block { checksum } => {
                    let Some(h) = input.get(..3) else { return Ok(()) };
                    let header = u32::from(h[0]) | u32::from(h[1]) << 8 | u32::from(h[2]) << 16;
                    let last = header & 1 != 0;
                    let content = match (header >> 1) & 3 {
                        1 => 1,
                        3 => return Err(invalid("invalid zstd data: a block of the reserved type".into())),
                        _ => (header >> 3) as usize,
                    };
                    let need = 3 + content + if last && checksum { 4 } else { 0 };
                    if need > MAX_BLOCK {
                        return Err(invalid(format!("invalid zstd data: a block of {content} bytes")));
                    }
                    let Some(mut block) = input.get(..need) else { return Ok(()) };
                    self.decoder
                        .decode_blocks(&mut block, BlockDecodingStrategy::UptoBlocks(1))
                        .map_err(|e| invalid(format!("invalid zstd data: {e}")))?;
                    self.start += need;
                    self.decoder.collect_to_writer(&mut self.out)?;
                    if last {
                        self.phase = Phase::Header;
                    }
                }
            }
        }
    }
}

impl<W: Write> Write for UnzstdWriter<W> {
    fn write(&mut self, chunk: &[u8]) -> io::Result<usize> {
        if self.start > 0 && self.start * 2 >= self.pending.len() {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        self.pending.extend_from_slice(chunk);
        self.decode()?;
        Ok(chunk.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
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

    fn unzstd_chunked(blob: &[u8], chunk: usize) -> io::Result<Vec<u8>> {
        let mut writer = UnzstdWriter::new(Vec::new());
        for part in blob.chunks(chunk) {
            writer.write_all(part)?;
        }
        writer.finish()
    }

    #[test]
    fn the_writer_decodes_in_any_chunking() {
        let (a, b) = (data(700_000), b"second frame".to_vec());
        let mut blob = zstd(&a);
        blob.extend_from_slice(&[0x5f, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
        blob.extend(zstd(&b));
        for chunk in [1, 7, 4096, 1 << 20] {
            assert_eq!(unzstd_chunked(&blob, chunk).unwrap(), [a.clone(), b.clone()].concat(), "chunks of {chunk}");
        }
        let cut = unzstd_chunked(&blob[..blob.len() - 5], 333).unwrap_err();
        assert_eq!(cut.kind(), io::ErrorKind::UnexpectedEof, "{cut}");
        assert!(unzstd_chunked(b"not zstd at all", 4).unwrap_err().to_string().contains("not a zstd frame"));
        assert!(unzstd_chunked(b"", 4).unwrap_err().to_string().contains("no frame"));
    }

    /// `zstd -19 --check` of "layerize zstd fixture\n" × 50: a frame with a content size and a
    /// checksum, as the zstd CLI and containers/image write them.
    const CLI_FRAME: [u8; 44] = [
        0x28, 0xb5, 0x2f, 0xfd, 0x64, 0x4c, 0x03, 0xf5, 0x00, 0x00, 0xb0, 0x6c, 0x61, 0x79, 0x65, 0x72, 0x69, 0x7a,
        0x65, 0x20, 0x7a, 0x73, 0x74, 0x64, 0x20, 0x66, 0x69, 0x78, 0x74, 0x75, 0x72, 0x65, 0x0a, 0x01, 0x00, 0x66,
        0xc8, 0x7f, 0x36, 0x01, 0x16, 0x1b, 0x25, 0x0f,
    ];

    #[test]
    fn frames_from_the_zstd_cli_are_checked_against_their_checksum() {
        let text = "layerize zstd fixture\n".repeat(50).into_bytes();
        assert_eq!(unzstd(&CLI_FRAME).unwrap(), text);
        assert_eq!(unzstd_chunked(&CLI_FRAME, 5).unwrap(), text);
        let mut bad = CLI_FRAME;
        bad[43] ^= 1;
        assert!(unzstd(&bad).unwrap_err().to_string().contains("fails its checksum"));
        let mut unchecked = Vec::new();
        Unzstd::new(&bad[..], false).read_to_end(&mut unchecked).unwrap();
        assert_eq!(unchecked, text, "a caller holding the digest skips the checksum");
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
