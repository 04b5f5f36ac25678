//! What the fuzz targets share: bounded reading, so that a target never holds more than a
//! few MiB whatever a decompressor makes of its input.

use std::io::{self, Read, Write};

/// Most bytes a target reads out of a decompressor (a 1 MiB gzip can inflate to 1 GiB).
pub const MAX_OUT: u64 = 16 << 20;

/// Reads `r` to its end or to [`MAX_OUT`] bytes, whichever comes first, in 64 KiB chunks.
pub fn drain_capped(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(MAX_OUT).read_to_end(&mut out)?;
    Ok(out)
}

/// `data` gzip-compressed with the fastest setting (the fuzzer's bytes then reach the tar
/// reader behind a valid gzip stream, which mutating gzip bytes directly seldom yields).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}

/// A sink that keeps nothing and refuses more than [`MAX_OUT`] bytes.
#[derive(Debug, Default)]
pub struct CappedSink {
    pub written: u64,
}

impl Write for CappedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written + buf.len() as u64 > MAX_OUT {
            return Err(io::Error::other("the fuzz target's output cap was reached"));
        }
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
