//! gzip members decompressed without their CRC-32, for a caller that holds the whole blob to
//! its sha256 digest: the digest already vouches for every compressed byte, so the CRC adds
//! nothing there, and in wasm (no carry-less multiply) it is a quarter of the inflate time.
//! The member length (ISIZE) is still checked, as are the header and the deflate stream.
//!
//! Reads one or more concatenated members (RFC 1952 §2.2), like `gunzip` and `MultiGzDecoder`.

use std::io::{self, BufRead, Read};

use flate2::{Decompress, FlushDecompress, Status};

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;

enum Phase {
    /// Before a member header; `true` once a member has been read (so the end may come).
    Header {
        after_member: bool,
    },
    Body,
    End,
}

/// A gzip stream as its decompressed bytes, CRC-32 unchecked.
pub struct Gunzip<R: BufRead> {
    inner: R,
    inflate: Decompress,
    phase: Phase,
    /// Bytes out of the current member (ISIZE is this modulo 2³²).
    member_out: u64,
}

impl<R: BufRead> std::fmt::Debug for Gunzip<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gunzip").field("member_out", &self.member_out).finish_non_exhaustive()
    }
}

impl<R: BufRead> Gunzip<R> {
    pub fn new(inner: R) -> Gunzip<R> {
        Gunzip { inner, inflate: Decompress::new(false), phase: Phase::Header { after_member: false }, member_out: 0 }
    }

    /// Reads the 8-byte trailer of the member just inflated and checks its length.
    fn trailer(&mut self) -> io::Result<()> {
        let mut trailer = [0u8; 8];
        self.inner.read_exact(&mut trailer).map_err(|e| ended(e, "the gzip trailer"))?;
        let isize = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if isize != self.member_out as u32 {
            return Err(invalid(format!(
                "the gzip member holds {} bytes but its trailer says {isize} (mod 2³²)",
                self.member_out
            )));
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Gunzip<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match self.phase {
                Phase::End => return Ok(0),
                Phase::Header { after_member } => {
                    if after_member && self.inner.fill_buf()?.is_empty() {
                        self.phase = Phase::End;
                        continue;
                    }
                    read_header(&mut self.inner)?;
                    self.inflate.reset(false);
                    self.member_out = 0;
                    self.phase = Phase::Body;
                }
                Phase::Body => {
                    let input = self.inner.fill_buf()?;
                    let at_eof = input.is_empty();
                    let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
                    let status = self
                        .inflate
                        .decompress(input, out, FlushDecompress::None)
                        .map_err(|e| invalid(format!("the deflate data is corrupt: {e}")))?;
                    let consumed = (self.inflate.total_in() - in_before) as usize;
                    let produced = (self.inflate.total_out() - out_before) as usize;
                    self.inner.consume(consumed);
                    self.member_out += produced as u64;
                    if status == Status::StreamEnd {
                        self.trailer()?;
                        self.phase = Phase::Header { after_member: true };
                    } else if produced == 0 && at_eof {
                        return Err(ended(io::ErrorKind::UnexpectedEof.into(), "the deflate data"));
                    }
                    if produced > 0 {
                        return Ok(produced);
                    }
                }
            }
        }
    }
}

/// Reads a member header (RFC 1952 §2.3), skipping its optional fields.
fn read_header(r: &mut impl BufRead) -> io::Result<()> {
    let mut fixed = [0u8; 10];
    r.read_exact(&mut fixed).map_err(|e| ended(e, "a gzip header"))?;
    if fixed[..2] != [0x1f, 0x8b] {
        return Err(invalid(format!("expected a gzip member, found bytes {:02x} {:02x}", fixed[0], fixed[1])));
    }
    if fixed[2] != 8 {
        return Err(invalid(format!("gzip compression method {} is not deflate", fixed[2])));
    }
    let flags = fixed[3];
    if flags & FEXTRA != 0 {
        let mut len = [0u8; 2];
        r.read_exact(&mut len).map_err(|e| ended(e, "a gzip header"))?;
        let len = u64::from(u16::from_le_bytes(len));
        if io::copy(&mut r.take(len), &mut io::sink())? != len {
            return Err(ended(io::ErrorKind::UnexpectedEof.into(), "a gzip header"));
        }
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let mut text = Vec::new();
            r.read_until(0, &mut text)?;
            if text.last() != Some(&0) {
                return Err(ended(io::ErrorKind::UnexpectedEof.into(), "a gzip header"));
            }
        }
    }
    if flags & FHCRC != 0 {
        r.read_exact(&mut [0u8; 2]).map_err(|e| ended(e, "a gzip header"))?;
    }
    Ok(())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn ended(e: io::Error, what: &str) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        io::Error::new(io::ErrorKind::UnexpectedEof, format!("the blob ends inside {what}"))
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use flate2::write::GzEncoder;
    use flate2::{Compression, GzBuilder};

    use super::Gunzip;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::new(6));
        e.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        e.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    fn gunzip(blob: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Gunzip::new(blob).read_to_end(&mut out)?;
        Ok(out)
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
    fn skips_the_crc_but_not_the_length_nor_the_end() {
        let data = sample(100_000);
        let mut blob = gzip(&data);
        let n = blob.len();
        blob[n - 8] ^= 0xff;
        assert_eq!(gunzip(&blob).unwrap_or_else(|e| panic!("{e}")), data, "a bad CRC passes (the digest checks)");
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
