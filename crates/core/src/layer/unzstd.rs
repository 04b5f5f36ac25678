//! zstd decompressed as its bytes arrive, with a pure-Rust decoder (`ruzstd`) so the page
//! reads zstd layers (`application/vnd.oci.image.layer.v1.tar+zstd`) as the CLI does.
//!
//! A stream may hold several frames one after the other, and skippable frames among them
//! (zstd:chunked layers are built that way); they are read in turn, like `zstd -d` does.
//! `ruzstd`'s own `StreamingDecoder` stops after the first frame and pulls from a reader, and
//! its `decode_from_to` cannot start a frame whose header is split across calls, hence
//! [`ZstdInflate`]: input is taken only once a whole frame header or block is there (a block
//! is at most 128 KiB), and decoded bytes beyond the frame's window are handed out at once.
//!
//! [`UnzstdWriter`] is the same decompression behind `Write`, for a check that sees a blob as
//! it streams past (the diffID of a zstd layer read out of an archive).

use std::io::{self, Read, Write};

use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

const ZSTD_MAGIC: u32 = 0xFD2F_B528;
/// The largest block's content (128 KiB), its header and a frame's closing checksum.
const MAX_BLOCK: usize = (128 << 10) + 3 + 4;

/// Where a [`ZstdInflate`] is in its input.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Header,
    Block {
        checksum: bool,
    },
    /// The last block is decoded; its bytes are being handed out.
    Drain,
    Skip(u64),
}

/// A zstd stream being decompressed; see [`ZstdInflate::inflate`].
pub struct ZstdInflate {
    decoder: FrameDecoder,
    phase: Phase,
    frames: u64,
    /// Compare each frame's content checksum (when it has one) with the decoded bytes'.
    check: bool,
}

impl std::fmt::Debug for ZstdInflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZstdInflate").field("phase", &self.phase).field("frames", &self.frames).finish()
    }
}

impl ZstdInflate {
    /// With `check`, each frame's xxhash checksum is verified (a caller that holds the blob to
    /// its sha256 digest may skip it).
    pub fn new(check: bool) -> ZstdInflate {
        ZstdInflate { decoder: FrameDecoder::new(), phase: Phase::Header, frames: 0, check }
    }

    /// Decodes what it can of `input` into the spare capacity of `out` (never growing it) and
    /// returns how many bytes of `input` it used. It uses none when `input` stops inside a
    /// frame header or block: call again with more input after those bytes.
    pub fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let mut used = 0;
        loop {
            if self.decoder.can_collect() > 0 {
                if out.len() == out.capacity() {
                    return Ok(used);
                }
                let len = out.len();
                out.resize(out.capacity(), 0);
                let n = self.decoder.read(&mut out[len..]);
                out.truncate(len + *n.as_ref().unwrap_or(&0));
                n.map_err(|e| invalid(format!("invalid zstd data: {e}")))?;
                continue;
            }
            let rest = &input[used..];
            match self.phase {
                Phase::Drain => {
                    self.end_frame()?;
                    self.phase = Phase::Header;
                }
                Phase::Skip(left) => {
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    used += n;
                    if n as u64 != left {
                        self.phase = Phase::Skip(left - n as u64);
                        return Ok(used);
                    }
                    self.phase = Phase::Header;
                }
                Phase::Header => {
                    let Some(magic) = rest.get(..4).map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]])) else {
                        return Ok(used);
                    };
                    if (0x184D_2A50..=0x184D_2A5F).contains(&magic) {
                        let Some(len) = rest.get(4..8) else { return Ok(used) };
                        self.phase = Phase::Skip(u64::from(u32::from_le_bytes([len[0], len[1], len[2], len[3]])));
                        used += 8;
                        continue;
                    }
                    if magic != ZSTD_MAGIC {
                        return Err(invalid(format!("not a zstd frame (it starts with {magic:#010x})")));
                    }
                    let Some(&descriptor) = rest.get(4) else { return Ok(used) };
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
                    let Some(mut header) = rest.get(..len) else { return Ok(used) };
                    self.decoder.reset(&mut header).map_err(|e| invalid(format!("not a zstd frame: {e}")))?;
                    used += len;
                    self.frames += 1;
                    self.phase = Phase::Block { checksum: descriptor & 0x04 != 0 };
                }
                Phase::Block { checksum } => {
                    let Some(h) = rest.get(..3) else { return Ok(used) };
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
                    let Some(mut block) = rest.get(..need) else { return Ok(used) };
                    self.decoder
                        .decode_blocks(&mut block, BlockDecodingStrategy::UptoBlocks(1))
                        .map_err(|e| invalid(format!("invalid zstd data: {e}")))?;
                    used += need;
                    if last {
                        self.phase = Phase::Drain;
                    }
                }
            }
        }
    }

    /// Checks that the stream may end here, after all the input was given to
    /// [`ZstdInflate::inflate`] (`left` bytes of it unused): after a whole frame.
    pub fn finish(&self, left: usize) -> io::Result<()> {
        if self.frames == 0 && left == 0 && matches!(self.phase, Phase::Header) {
            return Err(invalid("the zstd stream holds no frame".into()));
        }
        if !matches!(self.phase, Phase::Header) || left != 0 || self.decoder.can_collect() > 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the zstd stream is cut short"));
        }
        Ok(())
    }

    /// Checks the finished frame's checksum, once all of its bytes were handed out.
    fn end_frame(&mut self) -> io::Result<()> {
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

/// Bytes decoded at a time by [`UnzstdWriter`].
const OUT: usize = 256 << 10;

/// A zstd stream taken chunk by chunk, its decompressed bytes written to `out` (checksums
/// unchecked: its callers hold the result to a digest).
pub struct UnzstdWriter<W: Write> {
    out: W,
    inflate: ZstdInflate,
    pending: Vec<u8>,
    buf: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for UnzstdWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnzstdWriter").field("inflate", &self.inflate).finish_non_exhaustive()
    }
}

impl<W: Write> UnzstdWriter<W> {
    pub fn new(out: W) -> UnzstdWriter<W> {
        UnzstdWriter { out, inflate: ZstdInflate::new(false), pending: Vec::new(), buf: Vec::with_capacity(OUT) }
    }

    /// Checks that the stream ended after a whole frame and returns `out`.
    pub fn finish(mut self) -> io::Result<W> {
        self.decode()?;
        self.inflate.finish(self.pending.len())?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Decodes every whole header and block that `pending` holds.
    fn decode(&mut self) -> io::Result<()> {
        loop {
            let used = self.inflate.inflate(&self.pending, &mut self.buf)?;
            self.pending.drain(..used);
            if self.buf.is_empty() {
                return Ok(());
            }
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
    }
}

impl<W: Write> Write for UnzstdWriter<W> {
    fn write(&mut self, chunk: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(chunk);
        self.decode()?;
        Ok(chunk.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
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

    fn unzstd_in(blob: &[u8], chunk: usize, check: bool) -> io::Result<Vec<u8>> {
        crate::layer::inflate_in_chunks(ZstdInflate::new(check), blob, chunk, ZstdInflate::inflate, ZstdInflate::finish)
    }

    fn unzstd(blob: &[u8]) -> io::Result<Vec<u8>> {
        unzstd_in(blob, blob.len().max(1), true)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8 ^ (i / 4096) as u8).collect()
    }

    #[test]
    fn frames_and_skippable_frames_read_in_turn_in_any_chunking() {
        let (a, b) = (data(700_000), b"second frame".to_vec());
        assert_eq!(unzstd(&zstd(&a)).unwrap(), a);
        let mut blob = zstd(&a);
        // A skippable frame (magic 0x184D2A5?, little-endian length, then that many bytes).
        blob.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
        blob.extend(zstd(&b));
        for chunk in [1, 7, 4096, 1 << 20] {
            assert_eq!(unzstd_in(&blob, chunk, true).unwrap(), [a.clone(), b.clone()].concat(), "chunks of {chunk}");
        }
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
        assert_eq!(unzstd_in(&bad, 44, false).unwrap(), text, "a caller holding the digest skips the checksum");
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
