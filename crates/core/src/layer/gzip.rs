//! The pinned gzip profile: independent deflate blocks, so the work can be spread over cores
//! natively and still be reproduced byte for byte by a single-threaded wasm build.
//!
//! Profile (changing any item changes every blob digest):
//! - input cut into [`BLOCK_SIZE`] blocks of the uncompressed stream, by offset only;
//! - each block raw-deflated by zlib-rs at level [`LEVEL`] with a fresh compressor (no shared
//!   dictionary), ending in a sync flush (an empty stored block, byte aligned) except the last,
//!   which ends the stream;
//! - the blocks concatenated behind a fixed 10-byte header (no name, mtime 0, OS 255) and
//!   followed by the CRC-32 and length of the whole input.
//!
//! The result is one ordinary gzip member that any gunzip reads. Independent blocks cost
//! about 0.1% in size at 1 MiB.

use std::io::{self, Write};

use flate2::{Compress, Compression, FlushCompress, Status};

/// Bytes of uncompressed input per deflate block.
pub const BLOCK_SIZE: usize = 1 << 20;
/// zlib compression level, as in `gzip -6` (the default of gzip, pigz and Docker).
pub const LEVEL: u32 = 6;
/// Header: magic, CM=deflate, no flags, MTIME=0, XFL=0, OS=255 (unknown).
pub const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// Compresses one block of the profile. Pure: the same input gives the same bytes on every
/// machine, thread and target.
pub fn deflate_block(input: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(LEVEL), false);
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    let mut out = Vec::with_capacity(input.len() + input.len() / 64 + 64);
    loop {
        let done = c.total_in() as usize;
        let status = c
            .compress_vec(&input[done..], &mut out, flush)
            .map_err(|e| io::Error::other(format!("deflate failed: {e}")))?;
        let all_in = c.total_in() as usize == input.len();
        match status {
            Status::StreamEnd => return Ok(out),
            _ if !last && all_in && out.len() < out.capacity() => return Ok(out),
            _ => out.reserve(out.capacity().max(4096)),
        }
    }
}

/// Where blocks get compressed. Blocks are submitted in order and their compressed bytes
/// must reach `out` in that order; an implementation may hold some back until later calls.
pub trait Deflate {
    fn submit(&mut self, block: Vec<u8>, last: bool, out: &mut dyn Write) -> io::Result<()>;
    /// Writes everything still held back.
    fn drain(&mut self, out: &mut dyn Write) -> io::Result<()>;
}

/// Compresses each block as it arrives, on the calling thread (the wasm build's way).
#[derive(Debug, Default, Clone, Copy)]
pub struct Sequential;

impl Deflate for Sequential {
    fn submit(&mut self, block: Vec<u8>, last: bool, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&deflate_block(&block, last)?)
    }

    fn drain(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

impl<D: Deflate + ?Sized> Deflate for &mut D {
    fn submit(&mut self, block: Vec<u8>, last: bool, out: &mut dyn Write) -> io::Result<()> {
        (**self).submit(block, last, out)
    }

    fn drain(&mut self, out: &mut dyn Write) -> io::Result<()> {
        (**self).drain(out)
    }
}

/// Which of `count` shares deflates block `number`. Share 0 also makes the tar's digests and
/// reads every byte (see [`super::share`]), so it takes one block in every `2·count − 1` and
/// each other share two, which evens out the work.
pub fn share_of(number: u64, count: u32) -> u32 {
    let count = u64::from(count.max(1));
    let slot = number % (2 * count - 1);
    slot.div_ceil(2) as u32
}

/// Compresses only the blocks [`share_of`] gives share `index`, and hands each to `emit` with
/// its block number instead of writing it out. `count` workers that each run the whole layer
/// build with their own `Shard` share the deflate work without talking to each other (the
/// page's Web Workers cannot wait for one another); interleaving their blocks by number
/// between the header and the trailer gives exactly the bytes of [`Sequential`]. The sink of
/// such a build receives only the header and the 8-byte trailer.
pub struct Shard<F: FnMut(u64, Vec<u8>) -> io::Result<()>> {
    index: u32,
    count: u32,
    next: u64,
    emit: F,
}

impl<F: FnMut(u64, Vec<u8>) -> io::Result<()>> std::fmt::Debug for Shard<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard").field("index", &self.index).field("count", &self.count).field("next", &self.next).finish()
    }
}

impl<F: FnMut(u64, Vec<u8>) -> io::Result<()>> Shard<F> {
    /// Shard `index` of `count` (`index < count`).
    pub fn new(index: u32, count: u32, emit: F) -> Self {
        Shard { index, count: count.max(1), next: 0, emit }
    }
}

impl<F: FnMut(u64, Vec<u8>) -> io::Result<()>> Deflate for Shard<F> {
    fn submit(&mut self, block: Vec<u8>, last: bool, _out: &mut dyn Write) -> io::Result<()> {
        let number = self.next;
        self.next += 1;
        if share_of(number, self.count) == self.index {
            (self.emit)(number, deflate_block(&block, last)?)?;
        }
        Ok(())
    }

    fn drain(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

/// A gzip encoder for the profile: buffers one block, hands full blocks to a [`Deflate`].
#[derive(Debug)]
pub struct GzipWriter<W: Write, D: Deflate> {
    out: W,
    deflate: D,
    block: Vec<u8>,
    /// None for a share that does not write the trailer (see [`super::share`]).
    crc: Option<crc32fast::Hasher>,
    len: u64,
}

impl<W: Write, D: Deflate> GzipWriter<W, D> {
    pub fn new(mut out: W, deflate: D) -> io::Result<Self> {
        out.write_all(&HEADER)?;
        Ok(GzipWriter { out, deflate, block: Vec::with_capacity(BLOCK_SIZE), crc: Some(crc32fast::Hasher::new()), len: 0 })
    }

    /// Blocks only: no header, no CRC, no trailer (for a share that deflates some blocks of a
    /// stream whose frame another share writes).
    pub(crate) fn blocks_only(out: W, deflate: D) -> Self {
        GzipWriter { out, deflate, block: Vec::with_capacity(BLOCK_SIZE), crc: None, len: 0 }
    }

    /// Compresses what is left, writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let last = std::mem::take(&mut self.block);
        self.deflate.submit(last, true, &mut self.out)?;
        self.deflate.drain(&mut self.out)?;
        if let Some(crc) = self.crc {
            self.out.write_all(&crc.finalize().to_le_bytes())?;
            self.out.write_all(&(self.len as u32).to_le_bytes())?;
        }
        Ok(self.out)
    }
}

impl<W: Write, D: Deflate> Write for GzipWriter<W, D> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.block.len() == BLOCK_SIZE {
            let full = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK_SIZE));
            self.deflate.submit(full, false, &mut self.out)?;
        }
        let n = buf.len().min(BLOCK_SIZE - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        if let Some(crc) = &mut self.crc {
            crc.update(&buf[..n]);
        }
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data).read_to_end(&mut out).unwrap();
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        let mut x: u32 = 7;
        (0..len)
            .map(|i| {
                if (i / 4096) % 2 == 0 {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                } else {
                    b"the quick brown fox "[i % 20]
                }
            })
            .collect()
    }

    #[test]
    fn round_trips_across_block_boundaries() {
        for len in [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE + 17] {
            let data = sample(len);
            let mut w = GzipWriter::new(Vec::new(), Sequential).unwrap();
            w.write_all(&data).unwrap();
            let gz = w.finish().unwrap();
            assert_eq!(gunzip(&gz), data, "len {len}");
        }
    }

    #[test]
    fn write_sizes_do_not_change_bytes() {
        let data = sample(BLOCK_SIZE * 2 + 999);
        let mut one = GzipWriter::new(Vec::new(), Sequential).unwrap();
        one.write_all(&data).unwrap();
        let mut many = GzipWriter::new(Vec::new(), Sequential).unwrap();
        for chunk in data.chunks(777) {
            many.write_all(chunk).unwrap();
        }
        assert_eq!(one.finish().unwrap(), many.finish().unwrap());
    }
    #[test]
    fn shards_interleave_to_the_sequential_bytes() {
        let data = sample(BLOCK_SIZE * 5 + 12345);
        let mut w = GzipWriter::new(Vec::new(), Sequential).unwrap();
        w.write_all(&data).unwrap();
        let whole = w.finish().unwrap();
        for count in [1u32, 2, 3, 7] {
            let mut blocks = std::collections::BTreeMap::new();
            let mut frame = Vec::new();
            for index in 0..count {
                let mut mine = Vec::new();
                let shard = Shard::new(index, count, |n, bytes| {
                    mine.push((n, bytes));
                    Ok(())
                });
                let mut w = GzipWriter::new(Vec::new(), shard).unwrap();
                w.write_all(&data).unwrap();
                frame = w.finish().unwrap();
                assert!(mine.iter().all(|(n, _)| share_of(*n, count) == index));
                blocks.extend(mine);
            }
            assert_eq!(frame.len(), HEADER.len() + 8, "the sink gets only header and trailer");
            let mut joined = frame[..HEADER.len()].to_vec();
            blocks.values().for_each(|b| joined.extend_from_slice(b));
            joined.extend_from_slice(&frame[HEADER.len()..]);
            assert_eq!(joined, whole, "{count} shards");
        }
    }
}
