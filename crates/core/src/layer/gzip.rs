//! The gzip profiles: independent deflate blocks, so the work can be spread over cores
//! natively and still be reproduced byte for byte by a single-threaded wasm build.
//!
//! Framing, shared by both profiles:
//! - input cut into [`BLOCK_SIZE`] blocks of the uncompressed stream, by offset only;
//! - each block raw-deflated by zlib-rs with a fresh compressor (no shared dictionary),
//!   ending in a sync flush (an empty stored block, byte aligned) except the last, which ends
//!   the stream;
//! - the blocks concatenated behind a fixed 10-byte header (no name, mtime 0, OS 255) and
//!   followed by the CRC-32 and length of the whole input.
//!
//! How a block is deflated is the [`Profile`]: a pinned profile (level [`LEVEL`]) for every
//! layer layerize builds, whose digests users keep, and [`Profile::Fast`] for compressing a
//! layer on its way to a registry, where the bytes sent cost more than the digest's
//! stability across versions (`load` of uncompressed layers). The pinned profiles are
//! numbered and never change once released: [`Profile::Pinned1`] deflates every block,
//! [`Profile::Pinned2`] (the default) stores the blocks [`will_not_shrink`] picks, so
//! already compressed content costs almost no CPU. Changing anything in a released pinned
//! profile would change every blob digest built with it.
//!
//! The result is one ordinary gzip member that any gunzip reads. Independent blocks cost
//! about 0.1% in size at 1 MiB.

use std::io::{self, Write};

use flate2::{Compress, Compression, FlushCompress, Status};

/// Bytes of uncompressed input per deflate block.
pub const BLOCK_SIZE: usize = 1 << 20;
/// zlib compression level of the pinned profile, as in `gzip -6` (the default of gzip, pigz
/// and Docker).
pub const LEVEL: u32 = 6;
/// zlib compression level of the fast profile: a fraction of level 6's CPU time, for output a
/// few to twenty percent larger.
pub const FAST_LEVEL: u32 = 1;
/// Header: magic, CM=deflate, no flags, MTIME=0, XFL=0, OS=255 (unknown).
pub const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// How each block is deflated. Every profile shares the framing (see the module doc) and is
/// pure: the same input gives the same bytes on every machine, thread and target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// Version 1: every block at zlib level [`LEVEL`]. Layers built before version 2 (and
    /// with `--gzip-profile 1`) depend on these bytes: never change them.
    Pinned1,
    /// Version 2, the default of the CLI and the page: a block that [`will_not_shrink`] is
    /// stored (non-compressed deflate blocks), any other is deflated at [`LEVEL`] as in
    /// version 1, and stored after all if that came out no smaller. Never change these bytes
    /// either: a change is a version 3.
    #[default]
    Pinned2,
    /// For speed where the bytes sent matter more than the CPU spent, such as gzipping a
    /// plain layer while it uploads: a block that looks incompressible (see
    /// [`looks_incompressible`]) is stored, since deflating random or already compressed
    /// data costs the most time and saves nothing; any other block is deflated at
    /// [`FAST_LEVEL`], and stored after all if that came out no smaller.
    Fast,
}

impl Profile {
    /// The pinned profiles, by version.
    pub const PINNED: [Profile; 2] = [Profile::Pinned1, Profile::Pinned2];

    /// The pinned profile numbered `version` (1 or 2).
    pub fn pinned(version: u8) -> Option<Profile> {
        Self::PINNED.into_iter().find(|p| p.version() == Some(version))
    }

    /// The number of a pinned profile; `None` for [`Profile::Fast`], which is not pinned.
    pub fn version(self) -> Option<u8> {
        match self {
            Profile::Pinned1 => Some(1),
            Profile::Pinned2 => Some(2),
            Profile::Fast => None,
        }
    }

    /// What the history entry of a layer built with this profile says in its `comment`
    /// (`layerize gzip profile 2`). None for version 1, whose layers were built before the
    /// comment existed: with it, an image appended with version 1 keeps the config (and so
    /// the image digest) it had.
    pub fn history_comment(self) -> Option<String> {
        match self {
            Profile::Pinned1 | Profile::Fast => None,
            Profile::Pinned2 => Some("layerize gzip profile 2".to_owned()),
        }
    }
}

/// Compresses one block of `profile`. Pure: the same input gives the same bytes on every
/// machine, thread and target.
pub fn deflate_block(input: &[u8], last: bool, profile: Profile) -> io::Result<Vec<u8>> {
    match profile {
        Profile::Pinned1 => deflate_at(input, last, LEVEL),
        Profile::Pinned2 if will_not_shrink(input)? => deflate_at(input, last, 0),
        Profile::Pinned2 => smaller_of(deflate_at(input, last, LEVEL)?, input, last),
        Profile::Fast if looks_incompressible(input) => deflate_at(input, last, 0),
        Profile::Fast => smaller_of(deflate_at(input, last, FAST_LEVEL)?, input, last),
    }
}

/// `packed`, unless storing `input` would be smaller (only tried when `packed` is no smaller
/// than the input, which is rare outside noise the sample missed).
fn smaller_of(packed: Vec<u8>, input: &[u8], last: bool) -> io::Result<Vec<u8>> {
    if packed.len() < input.len() {
        return Ok(packed);
    }
    let stored = deflate_at(input, last, 0)?;
    Ok(if packed.len() < stored.len() { packed } else { stored })
}

/// Bytes of a block looked at by [`looks_incompressible`]: [`SAMPLE_WINDOWS`] windows of
/// this size spread evenly over it (all of a block no larger than that).
const SAMPLE_WINDOW: usize = 4096;
const SAMPLE_WINDOWS: usize = 16;

/// Whether a block's bytes look like noise: the collision (Rényi order 2) entropy of the byte
/// histogram of a fixed 64 KiB sample is at least 7.5 bits per byte, as random and already
/// compressed data have (≈ 8) and text, code and binaries do not (≤ 6 or so). It is the
/// cheap test (one pass over the sample) in front of deflate, which spends most of its time
/// on exactly such blocks for nothing. Integer arithmetic only, so the choice, and with it
/// the bytes, are the same on every target (a float `log2` need not be).
pub fn looks_incompressible(block: &[u8]) -> bool {
    let mut counts = [0u64; 256];
    let mut count = |window: &[u8]| window.iter().for_each(|&b| counts[usize::from(b)] += 1);
    if block.len() <= SAMPLE_WINDOW * SAMPLE_WINDOWS {
        count(block);
    } else {
        let stride = (block.len() - SAMPLE_WINDOW) / (SAMPLE_WINDOWS - 1);
        (0..SAMPLE_WINDOWS).for_each(|i| count(&block[i * stride..i * stride + SAMPLE_WINDOW]));
    }
    let n = u128::from(counts.iter().sum::<u64>());
    let squares: u128 = counts.iter().map(|&c| u128::from(c) * u128::from(c)).sum();
    // H2 = log2(n² / Σc²) ≥ 7.5  ⇔  (Σc²)² · 2^15 ≤ n⁴ (n ≤ 2^16, so this fits in u128).
    n > 0 && (squares * squares) << 15 <= n * n * n * n
}

/// Profile 2's rule: a block is stored when it [`looks_incompressible`] and deflating its
/// sample (the same 64 KiB) at [`FAST_LEVEL`] saves less than 1/32 of it. The histogram alone
/// mistakes data with evenly spread bytes but long repeats (counters, tables, some
/// uncompressed media) for noise; deflate on the sample sees the repeats, at a small part of
/// the cost of deflating the block at [`LEVEL`] (a sixteenth of the bytes, at level 1).
/// Deterministic: the sample, the level and the integer comparison are the same on every
/// target.
pub fn will_not_shrink(block: &[u8]) -> io::Result<bool> {
    if !looks_incompressible(block) {
        return Ok(false);
    }
    let sample: Vec<u8> = if block.len() <= SAMPLE_WINDOW * SAMPLE_WINDOWS {
        block.to_vec()
    } else {
        let stride = (block.len() - SAMPLE_WINDOW) / (SAMPLE_WINDOWS - 1);
        (0..SAMPLE_WINDOWS).flat_map(|i| &block[i * stride..i * stride + SAMPLE_WINDOW]).copied().collect()
    };
    let packed = deflate_at(&sample, true, FAST_LEVEL)?;
    Ok(packed.len() * 32 >= sample.len() * 31)
}

/// Raw deflate of one block at `level` with a fresh compressor.
fn deflate_at(input: &[u8], last: bool, level: u32) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
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
/// Each block comes with its stream's profile, which an implementation passes on to
/// [`deflate_block`], so one pool serves either profile.
pub trait Deflate {
    fn submit(&mut self, block: Vec<u8>, last: bool, profile: Profile, out: &mut dyn Write) -> io::Result<()>;
    /// Writes everything still held back.
    fn drain(&mut self, out: &mut dyn Write) -> io::Result<()>;
}

/// Compresses each block as it arrives, on the calling thread (the wasm build's way).
#[derive(Debug, Default, Clone, Copy)]
pub struct Sequential;

impl Deflate for Sequential {
    fn submit(&mut self, block: Vec<u8>, last: bool, profile: Profile, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&deflate_block(&block, last, profile)?)
    }

    fn drain(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

impl<D: Deflate + ?Sized> Deflate for &mut D {
    fn submit(&mut self, block: Vec<u8>, last: bool, profile: Profile, out: &mut dyn Write) -> io::Result<()> {
        (**self).submit(block, last, profile, out)
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
        f.debug_struct("Shard")
            .field("index", &self.index)
            .field("count", &self.count)
            .field("next", &self.next)
            .finish()
    }
}

impl<F: FnMut(u64, Vec<u8>) -> io::Result<()>> Shard<F> {
    /// Shard `index` of `count` (`index < count`).
    pub fn new(index: u32, count: u32, emit: F) -> Self {
        Shard { index, count: count.max(1), next: 0, emit }
    }
}

impl<F: FnMut(u64, Vec<u8>) -> io::Result<()>> Deflate for Shard<F> {
    fn submit(&mut self, block: Vec<u8>, last: bool, profile: Profile, _out: &mut dyn Write) -> io::Result<()> {
        let number = self.next;
        self.next += 1;
        if share_of(number, self.count) == self.index {
            (self.emit)(number, deflate_block(&block, last, profile)?)?;
        }
        Ok(())
    }

    fn drain(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

/// A gzip encoder for one profile: buffers one block, hands full blocks to a [`Deflate`].
#[derive(Debug)]
pub struct GzipWriter<W: Write, D: Deflate> {
    out: W,
    deflate: D,
    profile: Profile,
    block: Vec<u8>,
    /// None for a share that does not write the trailer (see [`super::share`]).
    crc: Option<crc32fast::Hasher>,
    len: u64,
}

impl<W: Write, D: Deflate> GzipWriter<W, D> {
    /// A writer of the default pinned profile.
    pub fn new(out: W, deflate: D) -> io::Result<Self> {
        Self::with_profile(out, deflate, Profile::default())
    }

    /// A writer of `profile`; writes the header at once.
    pub fn with_profile(mut out: W, deflate: D, profile: Profile) -> io::Result<Self> {
        out.write_all(&HEADER)?;
        Ok(GzipWriter {
            out,
            deflate,
            profile,
            block: Vec::with_capacity(BLOCK_SIZE),
            crc: Some(crc32fast::Hasher::new()),
            len: 0,
        })
    }

    /// Blocks only: no header, no CRC, no trailer (for a share that deflates some blocks of a
    /// stream whose frame another share writes).
    pub(crate) fn blocks_only(out: W, deflate: D, profile: Profile) -> Self {
        GzipWriter { out, deflate, profile, block: Vec::with_capacity(BLOCK_SIZE), crc: None, len: 0 }
    }

    /// Compresses what is left, writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let last = std::mem::take(&mut self.block);
        self.deflate.submit(last, true, self.profile, &mut self.out)?;
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
            self.deflate.submit(full, false, self.profile, &mut self.out)?;
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

    fn noise(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.max(1);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 11) as u8
            })
            .collect()
    }

    fn text(len: usize) -> Vec<u8> {
        let lines = (0..).flat_map(|i: u32| format!("{i} the quick brown fox jumps over the lazy dog\n").into_bytes());
        lines.take(len).collect()
    }

    fn gzip(data: &[u8], profile: Profile) -> Vec<u8> {
        let mut w = GzipWriter::with_profile(Vec::new(), Sequential, profile).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn fast_profile_round_trips() {
        let mixed = [noise(BLOCK_SIZE + 5000, 3), text(2 * BLOCK_SIZE), sample(BLOCK_SIZE)].concat();
        for len in [0, 1, 100, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, mixed.len()] {
            let data = &mixed[..len];
            assert_eq!(gunzip(&gzip(data, Profile::Fast)), data, "len {len}");
        }
    }

    #[test]
    fn fast_profile_stores_noise_and_packs_text() {
        let random = noise(BLOCK_SIZE, 9);
        assert!(looks_incompressible(&random));
        let stored = deflate_block(&random, false, Profile::Fast).unwrap();
        // Stored blocks of at most 64 KiB, 5 bytes of header each, and the sync flush.
        assert!(stored.len() >= random.len() && stored.len() <= random.len() + 5 * 18, "{}", stored.len());
        assert_eq!(stored, deflate_at(&random, false, 0).unwrap());

        let text = text(BLOCK_SIZE);
        assert!(!looks_incompressible(&text));
        let packed = deflate_block(&text, false, Profile::Fast).unwrap();
        assert_eq!(packed, deflate_at(&text, false, FAST_LEVEL).unwrap());
        assert!(packed.len() < text.len() / 4, "{}", packed.len());

        // Half text, half noise: worth deflating.
        let half = [text[..BLOCK_SIZE / 2].to_vec(), random[..BLOCK_SIZE / 2].to_vec()].concat();
        assert!(!looks_incompressible(&half));
        assert!(deflate_block(&half, false, Profile::Fast).unwrap().len() < BLOCK_SIZE * 3 / 4);
    }

    #[test]
    fn fast_profile_never_grows_a_block_beyond_stored() {
        // Too short for the histogram to see noise, so level 1 is tried and loses to stored.
        let short = noise(200, 5);
        assert!(!looks_incompressible(&short));
        for last in [false, true] {
            let fast = deflate_block(&short, last, Profile::Fast).unwrap();
            assert_eq!(fast, deflate_at(&short, last, 0).unwrap(), "last: {last}");
        }
        assert!(!looks_incompressible(&[]));
        assert_eq!(gunzip(&gzip(&short, Profile::Fast)), short);
    }

    #[test]
    fn fast_profile_is_deterministic_and_its_own() {
        let data = [noise(BLOCK_SIZE / 2, 11), text(BLOCK_SIZE * 2)].concat();
        let fast = gzip(&data, Profile::Fast);
        assert_eq!(fast, gzip(&data, Profile::Fast));
        let mut pieces = GzipWriter::with_profile(Vec::new(), Sequential, Profile::Fast).unwrap();
        data.chunks(4321).for_each(|c| pieces.write_all(c).unwrap());
        assert_eq!(pieces.finish().unwrap(), fast, "write sizes do not change bytes");
        let pinned = gzip(&data, Profile::Pinned1);
        assert_ne!(fast, pinned);
        assert_eq!(fast[..HEADER.len()], pinned[..HEADER.len()]);
        assert_eq!(fast[fast.len() - 8..], pinned[pinned.len() - 8..], "same CRC and length");
        assert!(fast.len() > pinned.len());
    }

    #[test]
    fn profile_2_stores_noise_and_deflates_the_rest_as_profile_1() {
        let random = noise(BLOCK_SIZE, 21);
        let stored = deflate_block(&random, false, Profile::Pinned2).unwrap();
        assert_eq!(stored, deflate_at(&random, false, 0).unwrap());
        assert!(stored.len() <= random.len() + 5 * 18, "{}", stored.len());
        assert!(will_not_shrink(&random).unwrap());
        let text = text(BLOCK_SIZE);
        let mixed = sample(BLOCK_SIZE);
        // Every byte value equally often, but a sequence deflate shrinks to a few percent.
        let counter: Vec<u8> = (0..BLOCK_SIZE as u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        assert!(looks_incompressible(&counter));
        for block in [&text, &mixed, &counter] {
            assert!(!will_not_shrink(block).unwrap());
            for last in [false, true] {
                let v2 = deflate_block(block, last, Profile::Pinned2).unwrap();
                assert_eq!(v2, deflate_block(block, last, Profile::Pinned1).unwrap());
            }
        }
        // Too short for the sample to see noise: deflated, then stored since that is smaller.
        let short = noise(200, 5);
        assert_eq!(deflate_block(&short, true, Profile::Pinned2).unwrap(), deflate_at(&short, true, 0).unwrap());
    }

    #[test]
    fn pinned_profiles_are_numbered() {
        assert_eq!(Profile::default(), Profile::Pinned2);
        assert_eq!(Profile::pinned(1), Some(Profile::Pinned1));
        assert_eq!(Profile::pinned(2), Some(Profile::Pinned2));
        assert_eq!(Profile::pinned(0), None);
        assert_eq!(Profile::pinned(3), None);
        assert_eq!(Profile::Fast.version(), None);
        assert_eq!(Profile::Pinned1.history_comment(), None);
        assert_eq!(Profile::Pinned2.history_comment().as_deref(), Some("layerize gzip profile 2"));
    }

    #[test]
    fn round_trips_across_block_boundaries() {
        let data = [sample(2 * BLOCK_SIZE + 17), noise(BLOCK_SIZE + 99, 4)].concat();
        for len in [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE + 17, data.len()] {
            for profile in Profile::PINNED {
                let gz = gzip(&data[..len], profile);
                assert_eq!(gunzip(&gz), &data[..len], "len {len}, {profile:?}");
            }
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
        let data = [sample(BLOCK_SIZE * 3 + 12345), noise(BLOCK_SIZE * 2, 8)].concat();
        for profile in Profile::PINNED {
            shards_join(&data, profile);
        }
    }

    fn shards_join(data: &[u8], profile: Profile) {
        let whole = gzip(data, profile);
        for count in [1u32, 2, 3, 7] {
            let mut blocks = std::collections::BTreeMap::new();
            let mut frame = Vec::new();
            for index in 0..count {
                let mut mine = Vec::new();
                let shard = Shard::new(index, count, |n, bytes| {
                    mine.push((n, bytes));
                    Ok(())
                });
                let mut w = GzipWriter::with_profile(Vec::new(), shard, profile).unwrap();
                w.write_all(data).unwrap();
                frame = w.finish().unwrap();
                assert!(mine.iter().all(|(n, _)| share_of(*n, count) == index));
                blocks.extend(mine);
            }
            assert_eq!(frame.len(), HEADER.len() + 8, "the sink gets only header and trailer");
            let mut joined = frame[..HEADER.len()].to_vec();
            blocks.values().for_each(|b| joined.extend_from_slice(b));
            joined.extend_from_slice(&frame[HEADER.len()..]);
            assert_eq!(joined, whole, "{count} shards, {profile:?}");
        }
    }
}
