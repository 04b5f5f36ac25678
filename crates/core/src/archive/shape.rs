//! Following a tar's structure as its bytes arrive, before they are kept anywhere: every header
//! must be one (its checksum holds), and the stream is over when the end-of-archive blocks
//! have come (plus a little padding). A gzipped "archive" is inflated through this, so an
//! input that is no tar fails at its first block, and one that inflates far beyond what its
//! headers declare (a gzip bomb of zeros after a tiny tar) stops being read at its end.
//!
//! Sans-IO: [`TarShape::feed`] takes bytes and says how many of them belong to the archive;
//! [`copy_tar`] drives it between a reader (a gzip decoder) and a writer, for the CLI's
//! inflated copy and the page's alike.

use std::io::{self, Read, Write};

use tar::{EntryType, Header, PaxExtensions};

use crate::error::Error;

const BLOCK: usize = 512;
/// Bytes kept after the end-of-archive blocks: tar pads to its record size (10 KiB for GNU
/// tar and Python); anything beyond is not read at all.
pub const MAX_TRAILER: u64 = 1 << 20;
/// Largest PAX extended header read (names, link targets and a size override fit easily).
const MAX_PAX: u64 = 1 << 20;

/// Where the stream is in the tar's structure.
#[derive(Debug)]
pub struct TarShape {
    state: State,
    block: Vec<u8>,
    /// Bytes of the archive taken so far, for messages.
    offset: u64,
    members: u64,
    /// A PAX `size` that overrides the next header's size field (files over 8 GiB).
    next_size: Option<u64>,
    pax: Option<Vec<u8>>,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Header,
    /// Member data and padding still to come.
    Data {
        left: u64,
    },
    /// One zero block seen where a header was due.
    OneZeroBlock,
    /// After the end-of-archive blocks: padding, up to [`MAX_TRAILER`] bytes.
    Trailer {
        seen: u64,
    },
    Done,
}

impl Default for TarShape {
    fn default() -> TarShape {
        TarShape::new()
    }
}

impl TarShape {
    pub fn new() -> TarShape {
        TarShape {
            state: State::Header,
            block: Vec::with_capacity(BLOCK),
            offset: 0,
            members: 0,
            next_size: None,
            pax: None,
        }
    }

    /// Takes the next `bytes` of the stream; returns how many of them belong to the archive
    /// (fewer than given only once [`TarShape::is_done`]). An error says what is wrong where.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<usize, Error> {
        let mut used = 0;
        while used < bytes.len() && self.state != State::Done {
            let rest = &bytes[used..];
            let n = match self.state {
                State::Data { left } => {
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    if let Some(pax) = self.pax.as_mut() {
                        pax.extend_from_slice(&rest[..n]);
                    }
                    self.state = if left == n as u64 { State::Header } else { State::Data { left: left - n as u64 } };
                    if self.state == State::Header {
                        self.end_pax();
                    }
                    n
                }
                State::Trailer { seen } => {
                    let n = rest.len().min(usize::try_from(MAX_TRAILER - seen).unwrap_or(usize::MAX));
                    let seen = seen + n as u64;
                    self.state = if seen == MAX_TRAILER { State::Done } else { State::Trailer { seen } };
                    n
                }
                State::Header | State::OneZeroBlock => {
                    let n = rest.len().min(BLOCK - self.block.len());
                    self.block.extend_from_slice(&rest[..n]);
                    if self.block.len() == BLOCK {
                        self.header(self.offset + n as u64 - BLOCK as u64)?;
                        self.block.clear();
                    }
                    n
                }
                State::Done => 0,
            };
            used += n;
            self.offset += n as u64;
        }
        Ok(used)
    }

    /// Whether the archive has ended (what follows need not be read).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// At the end of the stream: an error unless it ended where a tar may end.
    pub fn finish(&self) -> Result<(), Error> {
        match self.state {
            State::Trailer { .. } | State::Done => Ok(()),
            // Some writers omit the end-of-archive blocks; tar itself accepts that.
            State::Header | State::OneZeroBlock if self.block.is_empty() && self.members > 0 => Ok(()),
            State::Header | State::OneZeroBlock if self.members == 0 => {
                Err(Error::InvalidArchive { problem: "has no members: it is empty or not a tar".into() })
            }
            _ => Err(Error::InvalidArchive {
                problem: format!("is cut short: it ends {} bytes in, inside a member", self.offset),
            }),
        }
    }

    /// Judges the block that starts at byte `at` of the archive, where a header is due.
    fn header(&mut self, at: u64) -> Result<(), Error> {
        if self.block.iter().all(|&b| b == 0) {
            self.state = match self.state {
                State::OneZeroBlock => State::Trailer { seen: 0 },
                _ if self.members == 0 => {
                    return Err(Error::InvalidArchive {
                        problem: "is not a tar: it starts with an empty block, as no archive with members does".into(),
                    })
                }
                _ => State::OneZeroBlock,
            };
            return Ok(());
        }
        if self.state == State::OneZeroBlock {
            // A lone zero block between members: tar -i would read on; we do not guess.
            return Err(Error::InvalidArchive {
                problem: format!("has an empty block at byte {} between members", at - 512),
            });
        }
        let header = Header::from_byte_slice(&self.block);
        let what = if self.members == 0 {
            "is not a tar: its first block is not a tar header".to_owned()
        } else {
            format!("is not a complete, readable tar: the block at byte {at} is not a tar header")
        };
        let declared = header.cksum().map_err(|_| Error::InvalidArchive { problem: what.clone() })?;
        let unsigned: u32 =
            self.block.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u32::from(b) }).sum();
        let signed: i64 = self
            .block
            .iter()
            .enumerate()
            .map(|(i, &b)| if (148..156).contains(&i) { 32 } else { i64::from(b as i8) })
            .sum();
        if declared != unsigned && i64::from(declared) != signed {
            return Err(Error::InvalidArchive { problem: what });
        }
        let size = match self.next_size.take() {
            Some(size) => size,
            None => header.entry_size().map_err(|_| Error::InvalidArchive { problem: what })?,
        };
        self.members += 1;
        let kind = header.entry_type();
        self.pax = (kind == EntryType::XHeader && size <= MAX_PAX).then(Vec::new);
        // Only these carry data blocks; a link or a directory with a size field has none.
        let has_data = !matches!(
            kind,
            EntryType::Link
                | EntryType::Symlink
                | EntryType::Directory
                | EntryType::Char
                | EntryType::Block
                | EntryType::Fifo
        );
        let padded = if has_data { size.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64) } else { 0 };
        self.state = if padded == 0 { State::Header } else { State::Data { left: padded } };
        if padded == 0 {
            self.end_pax();
        }
        Ok(())
    }

    /// At the end of a PAX header's data: a `size` in it sizes the next member.
    fn end_pax(&mut self) {
        let Some(pax) = self.pax.take() else { return };
        let size = PaxExtensions::new(&pax)
            .filter_map(Result::ok)
            .filter(|ext| ext.key_bytes() == b"size")
            .filter_map(|ext| std::str::from_utf8(ext.value_bytes()).ok()?.trim_end_matches('\0').parse::<u64>().ok())
            .last();
        if size.is_some() {
            self.next_size = size;
        }
    }
}

/// Copies the tar that `from` yields (typically a gzip decoder over an archive) to `to`, up to
/// the tar's end and its padding; returns the bytes written. Fails at the first block that is
/// not what a tar has there, before anything past it is read.
pub fn copy_tar(mut from: impl Read, mut to: impl Write) -> Result<u64, Error> {
    let mut shape = TarShape::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut written = 0u64;
    while !shape.is_done() {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::InvalidArchive {
                    problem: format!("is compressed, but decompressing it failed (damaged or cut short?): {e}"),
                })
            }
        };
        let kept = shape.feed(&buf[..n])?;
        to.write_all(&buf[..kept]).map_err(|source| Error::ArchiveWrite { source })?;
        written += kept as u64;
    }
    shape.finish()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar(members: &[(&str, usize)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, len) in members {
            let mut h = Header::new_gnu();
            h.set_size(*len as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, &vec![7u8; *len][..]).unwrap_or_else(|e| panic!("{e}"));
        }
        b.into_inner().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Feeds `bytes` in pieces of `step`; returns the bytes taken and the result.
    fn run(bytes: &[u8], step: usize) -> (usize, Result<(), Error>) {
        let mut shape = TarShape::new();
        let mut taken = 0;
        for piece in bytes.chunks(step) {
            match shape.feed(piece) {
                Ok(n) => taken += n,
                Err(e) => return (taken, Err(e)),
            }
            if shape.is_done() {
                break;
            }
        }
        (taken, shape.finish())
    }

    #[test]
    fn a_tar_is_followed_to_its_end_in_any_pieces() {
        let t = tar(&[("a", 0), ("b/c", 1000), ("d", 512), ("e".repeat(150).as_str(), 3)]);
        for step in [1, 7, 511, 512, 4096, t.len()] {
            let (taken, result) = run(&t, step);
            assert!(result.is_ok(), "step {step}: {result:?}");
            assert_eq!(taken, t.len(), "step {step}");
        }
    }

    #[test]
    fn copy_tar_stops_at_the_end_and_at_the_first_bad_block() {
        let t = tar(&[("a", 10)]);
        let mut padded = t.clone();
        padded.resize(t.len() + 3 * MAX_TRAILER as usize, 0);
        let mut out = Vec::new();
        assert_eq!(copy_tar(&padded[..], &mut out).unwrap_or_else(|e| panic!("{e}")), t.len() as u64 + MAX_TRAILER);
        assert_eq!(&out[..t.len()], &t[..]);
        let mut out = Vec::new();
        let e = copy_tar(&vec![0u8; 1 << 20][..], &mut out).unwrap_err();
        assert!(e.to_string().contains("not a tar"), "{e}");
        assert!(out.is_empty());
    }

    #[test]
    fn what_follows_the_end_is_read_only_up_to_a_bound() {
        let mut t = tar(&[("a", 10)]);
        let end = t.len();
        t.resize(end + 8 * MAX_TRAILER as usize, 0);
        let (taken, result) = run(&t, 65536);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(taken as u64, end as u64 + MAX_TRAILER);
    }

    #[test]
    fn zeros_or_noise_are_no_tar() {
        let (taken, result) = run(&vec![0u8; 1 << 20], 65536);
        assert!(result.unwrap_err().to_string().contains("starts with an empty block"));
        assert_eq!(taken, 0, "nothing of a piece that fails is taken");
        let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let (_, result) = run(&noise, 100);
        assert!(result.unwrap_err().to_string().contains("its first block is not a tar header"));
        let (_, result) = run(b"", 1);
        assert!(result.unwrap_err().to_string().contains("has no members"));
    }

    #[test]
    fn a_cut_or_damaged_tar_is_named() {
        let t = tar(&[("a", 2000), ("b", 10)]);
        let (_, result) = run(&t[..1200], 100);
        assert!(result.unwrap_err().to_string().contains("cut short"));
        let mut bad = t.clone();
        bad[2560 + 3] ^= 0x55; // inside the second header
        let (_, result) = run(&bad, 100);
        let e = result.unwrap_err().to_string();
        assert!(e.contains("block at byte 2560 is not a tar header"), "{e}");
    }

    #[test]
    fn a_pax_size_sizes_the_next_member() {
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("size", b"600".as_slice())]).unwrap_or_else(|e| panic!("{e}"));
        let mut h = Header::new_ustar();
        h.set_size(0); // as if the real size did not fit the field
        h.set_path("big").unwrap_or_else(|e| panic!("{e}"));
        h.set_cksum();
        b.append(&h, &[][..]).unwrap_or_else(|e| panic!("{e}"));
        let mut t = b.into_inner().unwrap_or_else(|e| panic!("{e}"));
        // The member's 600 bytes (two blocks), then the end.
        let end = t.len() - 1024;
        t.splice(end..end, vec![1u8; 1024]);
        let (taken, result) = run(&t, 300);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(taken, t.len());
    }
}
