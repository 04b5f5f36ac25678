//! Content digests (`sha256:<hex>`) and a writer that computes one while bytes pass through.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::Error;

/// A validated content digest. Only `sha256` is computed; `sha512` digests parse so that
/// manifests carrying them can be read and reported, not silently mangled.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest::from_sha256(Sha256::digest(bytes).into())
    }

    fn from_sha256(hash: [u8; 32]) -> Digest {
        let mut s = String::with_capacity(71);
        s.push_str("sha256:");
        for b in hash {
            s.push(char::from(HEX[(b >> 4) as usize]));
            s.push(char::from(HEX[(b & 15) as usize]));
        }
        Digest(s)
    }

    /// `sha256`, `sha512`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map(|(a, _)| a).unwrap_or_default()
    }

    /// The hex part, as used in blob paths (`blobs/sha256/<hex>`).
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map(|(_, h)| h).unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason: &'static str| Error::InvalidDigest { input: s.to_owned(), reason };
        let (alg, hex) = s.split_once(':').ok_or_else(|| bad("expected `algorithm:hex`"))?;
        let len = match alg {
            "sha256" => 64,
            "sha512" => 128,
            _ => return Err(bad("unsupported algorithm (expected sha256 or sha512)")),
        };
        if hex.len() != len {
            return Err(bad("wrong length for its algorithm"));
        }
        if !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(bad("hex part must be lowercase hexadecimal"));
        }
        Ok(Digest(s.to_owned()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Incremental sha256 over a stream, also counting bytes.
#[derive(Clone, Default)]
pub struct Hasher {
    sha: Sha256,
    len: u64,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher").field("len", &self.len).finish()
    }
}

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.len += bytes.len() as u64;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn finish(self) -> Digest {
        Digest::from_sha256(self.sha.finalize().into())
    }
}

/// A `Write` adapter that hashes and counts everything written through it.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Hasher::new() }
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The digest and byte count of everything written, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        let len = self.hasher.len();
        (self.hasher.finish(), len, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A blob's chunks passed on one behind while they are hashed, the last given only once the
/// whole blob hashes to `expected`: whoever sees the end of the bytes has seen a good blob,
/// and a wrong one ends in an error instead of its last chunk. Sans-IO; the registry client's
/// verified pull and the page server's checked proxy wrap it in their streams.
#[derive(Debug)]
pub struct HeldBack<T> {
    /// None once the end was reported.
    hasher: Option<Hasher>,
    expected: Digest,
    pending: Option<T>,
}

impl<T: AsRef<[u8]>> HeldBack<T> {
    pub fn new(expected: Digest) -> HeldBack<T> {
        HeldBack { hasher: Some(Hasher::new()), expected, pending: None }
    }

    pub fn expected(&self) -> &Digest {
        &self.expected
    }

    /// Whether [`HeldBack::finish`] has been called.
    pub fn ended(&self) -> bool {
        self.hasher.is_none()
    }

    /// Takes the next chunk; returns the one before it, which may now be passed on.
    pub fn push(&mut self, chunk: T) -> Option<T> {
        if let Some(h) = self.hasher.as_mut() {
            h.update(chunk.as_ref());
        }
        self.pending.replace(chunk)
    }

    /// At the end of the input: the last chunk (none for an empty blob, or after the end was
    /// already reported), or the digest the bytes had instead of the expected one.
    pub fn finish(&mut self) -> Result<Option<T>, Digest> {
        let Some(hasher) = self.hasher.take() else { return Ok(None) };
        let found = hasher.finish();
        if found != self.expected {
            self.pending = None;
            return Err(found);
        }
        Ok(self.pending.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_back_gives_the_last_chunk_only_for_the_right_digest() {
        let run = |expected: Digest| {
            let mut held = HeldBack::new(expected);
            let passed: Vec<&[u8]> = [&b"ab"[..], b"c", b"d"].into_iter().filter_map(|c| held.push(c)).collect();
            (passed, held.finish(), held.finish())
        };
        let (passed, end, again) = run(Digest::sha256(b"abcd"));
        assert_eq!(passed, [&b"ab"[..], b"c"]);
        assert_eq!(end, Ok(Some(&b"d"[..])));
        assert_eq!(again, Ok(None), "the end is reported once");
        let (passed, end, _) = run(Digest::sha256(b"abce"));
        assert_eq!(passed, [&b"ab"[..], b"c"]);
        assert_eq!(end, Err(Digest::sha256(b"abcd")));
    }

    #[test]
    fn sha256_of_empty_is_the_well_known_value() {
        assert_eq!(
            Digest::sha256(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_rules() {
        let ok = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(ok.parse::<Digest>().unwrap().hex().len(), 64);
        let cases = [
            ("sha256", "expected `algorithm:hex`"),
            ("md5:abcd", "unsupported algorithm (expected sha256 or sha512)"),
            ("sha256:abcd", "wrong length for its algorithm"),
            (
                "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                "hex part must be lowercase hexadecimal",
            ),
        ];
        for (input, want) in cases {
            match input.parse::<Digest>() {
                Err(Error::InvalidDigest { reason, .. }) => assert_eq!(reason, want, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[test]
    fn hashing_writer_matches_one_shot() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (d, n, inner) = w.finish();
        assert_eq!(n, 11);
        assert_eq!(d, Digest::sha256(b"hello world"));
        assert_eq!(inner, b"hello world");
    }
}
