//! gzip decompressed as its bytes arrive (push-based: input slices in, output into a buffer
//! the caller owns), for [`super::decode::LayerDecoder`]. One or more concatenated members
//! (RFC 1952 §2.2) are read, like `gunzip` and `MultiGzDecoder`.
//!
//! The CRC-32 is optional: a caller that holds the whole blob to its sha256 digest has every
//! compressed byte vouched for already, and in wasm (no carry-less multiply) the CRC is a
//! quarter of the inflate time. The member length (ISIZE) is always checked, as are the
//! header and the deflate stream.

use std::io;

use flate2::{Crc, Decompress, FlushDecompress, Status};

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;

/// A header longer than this (its name or comment never ends) is refused rather than held.
const MAX_HEADER: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Before a member header; `true` once a member has been read (so the end may come).
    Header {
        after_member: bool,
    },
    Body,
    Trailer,
}

/// A gzip stream being inflated; see [`GzipInflate::inflate`].
pub struct GzipInflate {
    inflate: Decompress,
    phase: Phase,
    /// Bytes out of the current member (ISIZE is this modulo 2³²).
    member_out: u64,
    /// The running CRC-32 of the member, when it is checked.
    crc: Option<Crc>,
}

impl std::fmt::Debug for GzipInflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzipInflate").field("phase", &self.phase).field("member_out", &self.member_out).finish()
    }
}

impl GzipInflate {
    /// With `check_crc`, each member's CRC-32 is compared with its bytes'.
    pub fn new(check_crc: bool) -> GzipInflate {
        GzipInflate {
            inflate: Decompress::new(false),
            phase: Phase::Header { after_member: false },
            member_out: 0,
            crc: check_crc.then(Crc::new),
        }
    }

    /// Inflates what it can of `input` into the spare capacity of `out` (never growing it)
    /// and returns how many bytes of `input` it used. It uses none when `input` stops inside
    /// a header or trailer: call again with more input after those bytes.
    pub fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.phase {
                Phase::Header { after_member } => {
                    if after_member && rest.is_empty() {
                        return Ok(used);
                    }
                    let Some(len) = header_len(rest)? else { return Ok(used) };
                    used += len;
                    self.inflate.reset(false);
                    self.member_out = 0;
                    if let Some(crc) = &mut self.crc {
                        crc.reset();
                    }
                    self.phase = Phase::Body;
                }
                Phase::Body => {
                    // Called even without input: the inflater may still hold output.
                    if out.len() == out.capacity() {
                        return Ok(used);
                    }
                    let (in_before, out_before, len_before) =
                        (self.inflate.total_in(), self.inflate.total_out(), out.len());
                    let status = self
                        .inflate
                        .decompress_vec(rest, out, FlushDecompress::None)
                        .map_err(|e| invalid(format!("the deflate data is corrupt: {e}")))?;
                    let consumed = (self.inflate.total_in() - in_before) as usize;
                    let produced = (self.inflate.total_out() - out_before) as usize;
                    used += consumed;
                    self.member_out += produced as u64;
                    if let Some(crc) = &mut self.crc {
                        crc.update(&out[len_before..]);
                    }
                    if status == Status::StreamEnd {
                        self.phase = Phase::Trailer;
                    } else if consumed == 0 && produced == 0 {
                        return Ok(used);
                    }
                }
                Phase::Trailer => {
                    let Some(trailer) = rest.get(..8) else { return Ok(used) };
                    let isize = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
                    if isize != self.member_out as u32 {
                        return Err(invalid(format!(
                            "the gzip member holds {} bytes but its trailer says {isize} (mod 2³²)",
                            self.member_out
                        )));
                    }
                    let stored = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
                    if let Some(crc) = self.crc.as_ref().filter(|crc| crc.sum() != stored) {
                        return Err(invalid(format!(
                            "the gzip member fails its CRC-32 (stored {stored:08x}, computed {:08x})",
                            crc.sum()
                        )));
                    }
                    used += 8;
                    self.phase = Phase::Header { after_member: true };
                }
            }
        }
    }

    /// Checks that the stream may end here, after all the input was given to
    /// [`GzipInflate::inflate`] (`left` bytes of it unused): after a whole member.
    pub fn finish(&self, left: usize) -> io::Result<()> {
        let inside = match self.phase {
            Phase::Header { after_member: true } if left == 0 => return Ok(()),
            Phase::Header { .. } => "a gzip header",
            Phase::Body => "the deflate data",
            Phase::Trailer => "the gzip trailer",
        };
        Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("the blob ends inside {inside}")))
    }
}

/// The length of the member header (RFC 1952 §2.3) `input` starts with, or `None` if it
/// does not hold all of it yet.
fn header_len(input: &[u8]) -> io::Result<Option<usize>> {
    let Some(fixed) = input.get(..10) else {
        return check_magic(input).map(|()| None);
    };
    check_magic(fixed)?;
    if fixed[2] != 8 {
        return Err(invalid(format!("gzip compression method {} is not deflate", fixed[2])));
    }
    let flags = fixed[3];
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let Some(len) = input.get(at..at + 2) else { return Ok(None) };
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let Some(end) = input.get(at..).and_then(|rest| rest.iter().position(|b| *b == 0)) else {
                return too_long(input.len());
            };
            at += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    if at > input.len() {
        return too_long(input.len());
    }
    Ok(Some(at))
}

fn check_magic(start: &[u8]) -> io::Result<()> {
    if start.iter().zip([0x1f, 0x8b]).any(|(b, magic)| *b != magic) {
        let found: Vec<String> = start.iter().take(2).map(|b| format!("{b:02x}")).collect();
        return Err(invalid(format!("expected a gzip member, found bytes {}", found.join(" "))));
    }
    Ok(())
}

/// Waits for more of a header, unless it has grown past [`MAX_HEADER`].
fn too_long(held: usize) -> io::Result<Option<usize>> {
    if held > MAX_HEADER {
        return Err(invalid(format!("a gzip header runs past {MAX_HEADER} bytes (its name or comment never ends)")));
    }
    Ok(None)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::{Compression, GzBuilder};

    use super::GzipInflate;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::new(6));
        e.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        e.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    fn gunzip_in(blob: &[u8], chunk: usize, crc: bool) -> std::io::Result<Vec<u8>> {
        crate::layer::inflate_in_chunks(GzipInflate::new(crc), blob, chunk, GzipInflate::inflate, GzipInflate::finish)
    }

    fn gunzip(blob: &[u8]) -> std::io::Result<Vec<u8>> {
        let whole = gunzip_in(blob, blob.len().max(1), false)?;
        assert_eq!(gunzip_in(blob, 1, false).ok().as_ref(), Some(&whole), "byte by byte");
        Ok(whole)
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n as u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8 & 0x3f).collect()
    }

    #[test]
    fn reads_what_gzip_wrote_across_members_and_optional_fields() {
        let (a, b) = (sample(300_000), b"second member".to_vec());
        let mut second = Vec::new();
        let mut e = GzBuilder::new()
            .filename("x.tar")
            .comment("made by a test")
            .extra(vec![1, 2, 3])
            .write(&mut second, Compression::fast());
        e.write_all(&b).unwrap_or_else(|e| panic!("{e}"));
        e.finish().unwrap_or_else(|e| panic!("{e}"));
        let mut blob = gzip(&a);
        blob.extend_from_slice(&second);
        let got = gunzip(&blob).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, [a, b].concat());
        assert_eq!(gunzip(&gzip(b"")).unwrap_or_else(|e| panic!("{e}")), b"");
    }

    #[test]
    fn the_crc_is_checked_when_asked_and_the_length_and_end_always() {
        let data = sample(100_000);
        let mut blob = gzip(&data);
        let n = blob.len();
        blob[n - 8] ^= 0xff;
        assert_eq!(gunzip(&blob).unwrap_or_else(|e| panic!("{e}")), data, "a bad CRC passes (the digest checks)");
        let crc = gunzip_in(&blob, 4096, true).unwrap_err();
        assert!(crc.to_string().contains("fails its CRC-32"), "{crc}");
        blob[n - 4] ^= 0xff;
        assert!(gunzip(&blob).unwrap_err().to_string().contains("trailer says"));
        let whole = gzip(&data);
        for cut in [5, 12, whole.len() / 2, whole.len() - 3] {
            let e = gunzip(&whole[..cut]).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "cut at {cut}: {e}");
        }
        let mut garbage = whole.clone();
        garbage.extend_from_slice(&[0; 16]);
        assert!(gunzip(&garbage).unwrap_err().to_string().contains("expected a gzip member"));
    }
}
