//! Checking a blob read out of an archive while it streams past: its size and digest, and for
//! a layer the digest of its uncompressed tar, which must be the config's diffID.

use std::io::{self, Read, Write};

use flate2::write::MultiGzDecoder;

use crate::digest::{Digest, Hasher, HashingWriter};
use crate::error::Error;
use crate::layer::unzstd::UnzstdWriter;
use crate::media_type::Compression;

/// What a blob must turn out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The member it is read from, for errors.
    pub member: String,
    pub digest: Digest,
    pub size: u64,
    /// For a layer of an image: the diffID its uncompressed bytes must hash to.
    pub diff_id: Option<Digest>,
    pub compression: Compression,
}

/// Decompression of a layer, for its diffID.
enum Inflate {
    Gzip(MultiGzDecoder<HashingWriter<io::Sink>>),
    Zstd(UnzstdWriter<HashingWriter<io::Sink>>),
}

impl Inflate {
    fn write_all(&mut self, chunk: &[u8]) -> io::Result<()> {
        match self {
            Inflate::Gzip(w) => w.write_all(chunk),
            Inflate::Zstd(w) => w.write_all(chunk),
        }
    }

    /// The digest of everything decompressed, once the stream turned out complete.
    fn finish(self) -> io::Result<Digest> {
        let hashed = match self {
            Inflate::Gzip(w) => w.finish()?,
            Inflate::Zstd(w) => w.finish()?,
        };
        Ok(hashed.finish().0)
    }

    fn name(&self) -> &'static str {
        match self {
            Inflate::Gzip(_) => "gzip",
            Inflate::Zstd(_) => "zstd",
        }
    }
}

/// Accumulates a blob chunk by chunk; [`BlobCheck::finish`] says whether it was the blob
/// expected. Memory use is one inflate window (gzip) or one zstd window and block, whatever the
/// blob's size.
pub struct BlobCheck {
    expected: Expected,
    hasher: Hasher,
    inflate: Option<Inflate>,
}

impl std::fmt::Debug for BlobCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobCheck").field("expected", &self.expected).field("read", &self.hasher.len()).finish()
    }
}

impl BlobCheck {
    pub fn new(expected: Expected) -> BlobCheck {
        let inflate = match (&expected.diff_id, expected.compression) {
            (Some(_), Compression::Gzip) => Some(Inflate::Gzip(MultiGzDecoder::new(HashingWriter::new(io::sink())))),
            (Some(_), Compression::Zstd) => Some(Inflate::Zstd(UnzstdWriter::new(HashingWriter::new(io::sink())))),
            _ => None,
        };
        BlobCheck { expected, hasher: Hasher::new(), inflate }
    }

    pub fn expected(&self) -> &Expected {
        &self.expected
    }

    /// Takes the next bytes of the blob.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if self.hasher.len() + chunk.len() as u64 > self.expected.size {
            return Err(self.mismatch(
                "size",
                self.expected.size.to_string(),
                format!("more than {}", self.expected.size),
            ));
        }
        self.hasher.update(chunk);
        if let Some(inflate) = self.inflate.as_mut() {
            if let Err(e) = inflate.write_all(chunk) {
                let kind = inflate.name();
                return Err(self.corrupt(kind, e));
            }
        }
        Ok(())
    }

    /// Checks size, digest and diffID once every byte went through `update`.
    pub fn finish(self) -> Result<(), Error> {
        let BlobCheck { expected, hasher, inflate } = self;
        let size = hasher.len();
        let digest = hasher.finish();
        let fail = |what: &'static str, want: String, found: String| Error::MemberMismatch {
            member: expected.member.clone(),
            what,
            expected: want,
            found,
        };
        if size != expected.size {
            return Err(fail("size", expected.size.to_string(), size.to_string()));
        }
        if digest != expected.digest {
            return Err(fail("digest", expected.digest.to_string(), digest.to_string()));
        }
        let Some(diff_id) = &expected.diff_id else { return Ok(()) };
        let found = match inflate {
            None => digest,
            Some(inflate) => {
                let kind = inflate.name();
                inflate.finish().map_err(|e| Error::InvalidMember {
                    member: expected.member.clone(),
                    problem: format!("is not a complete {kind} stream: {e}"),
                })?
            }
        };
        if &found != diff_id {
            return Err(fail("uncompressed digest (diffID)", diff_id.to_string(), found.to_string()));
        }
        Ok(())
    }

    /// Reads `reader` to its end through the check.
    pub fn check_all(mut self, mut reader: impl Read) -> Result<(), Error> {
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return self.finish(),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(Error::ArchiveRead { member: self.expected.member.clone(), source }),
            };
            self.update(&buf[..n])?;
        }
    }

    fn mismatch(&self, what: &'static str, expected: String, found: String) -> Error {
        Error::MemberMismatch { member: self.expected.member.clone(), what, expected, found }
    }

    fn corrupt(&self, kind: &str, e: io::Error) -> Error {
        Error::InvalidMember { member: self.expected.member.clone(), problem: format!("is not valid {kind}: {e}") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn expect(blob: &[u8], diff_id: Option<Digest>, compression: Compression) -> Expected {
        Expected {
            member: "blobs/sha256/x".into(),
            digest: Digest::sha256(blob),
            size: blob.len() as u64,
            diff_id,
            compression,
        }
    }

    #[test]
    fn good_blobs_pass_in_any_chunking() {
        let tar = vec![42u8; 100_000];
        let gz = gzip(&tar);
        let mut check = BlobCheck::new(expect(&gz, Some(Digest::sha256(&tar)), Compression::Gzip));
        for chunk in gz.chunks(333) {
            check.update(chunk).unwrap();
        }
        check.finish().unwrap();
        BlobCheck::new(expect(&tar, Some(Digest::sha256(&tar)), Compression::None)).check_all(&tar[..]).unwrap();
    }

    #[test]
    fn each_mismatch_is_named() {
        let tar = vec![1u8; 1000];
        let gz = gzip(&tar);
        let what = |r: Result<(), Error>| match r {
            Err(Error::MemberMismatch { what, member, .. }) => {
                assert_eq!(member, "blobs/sha256/x");
                what
            }
            other => panic!("{other:?}"),
        };
        let mut wrong_digest = expect(&gz, None, Compression::Gzip);
        wrong_digest.digest = Digest::sha256(b"other");
        assert_eq!(what(BlobCheck::new(wrong_digest).check_all(&gz[..])), "digest");
        assert_eq!(what(BlobCheck::new(expect(&gz, None, Compression::Gzip)).check_all(&gz[..10])), "size");
        let mut longer = gz.clone();
        longer.push(0);
        assert_eq!(what(BlobCheck::new(expect(&gz, None, Compression::Gzip)).check_all(&longer[..])), "size");
        let wrong_diff = expect(&gz, Some(Digest::sha256(b"not the tar")), Compression::Gzip);
        assert_eq!(what(BlobCheck::new(wrong_diff).check_all(&gz[..])), "uncompressed digest (diffID)");
        let not_gzip = expect(&tar, Some(Digest::sha256(&tar)), Compression::Gzip);
        assert!(matches!(BlobCheck::new(not_gzip).check_all(&tar[..]), Err(Error::InvalidMember { .. })));
    }

    #[test]
    fn zstd_layers_are_checked_against_their_diff_id() {
        let tar: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let zst = ruzstd::encoding::compress_to_vec(&tar[..], ruzstd::encoding::CompressionLevel::Fastest);
        let mut check = BlobCheck::new(expect(&zst, Some(Digest::sha256(&tar)), Compression::Zstd));
        for chunk in zst.chunks(1000) {
            check.update(chunk).unwrap();
        }
        check.finish().unwrap();
        let wrong = expect(&zst, Some(Digest::sha256(b"not the tar")), Compression::Zstd);
        match BlobCheck::new(wrong).check_all(&zst[..]) {
            Err(Error::MemberMismatch { what, .. }) => assert_eq!(what, "uncompressed digest (diffID)"),
            other => panic!("{other:?}"),
        }
        let not_zstd = expect(&tar, Some(Digest::sha256(&tar)), Compression::Zstd);
        let err = BlobCheck::new(not_zstd).check_all(&tar[..]).unwrap_err().to_string();
        assert!(err.contains("is not valid zstd"), "{err}");
    }
}
