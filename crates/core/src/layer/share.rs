//! One share of a layer build spread over workers that cannot wait for one another (the page's
//! Web Workers): share `index` of `count` deflates the blocks of the layer's gzip profile that
//! [`share_of`] gives it (see [`Shard`]). Interleaving every share's blocks by number between
//! share 0's header and trailer gives exactly the bytes of a one-thread build.
//!
//! Share 0 reads every byte: it alone computes the diffID, the tar size and the gzip trailer,
//! and notices a file that shrank or grew. The other shares only need the bytes of their own
//! blocks, so they seek past file content that falls in blocks they do not deflate and hash
//! nothing: with `count` workers, each reads about 1/`count` of the input, not all of it.

use std::io::{self, Read, Seek, SeekFrom};

use super::gzip::{share_of, GzipWriter, Shard, BLOCK_SIZE as BLOCK};
use super::tar::TarWriter;
use super::{feed_entries, Cut, Entry, EntryFeed, EntryKind, LayerEncoder, LayerOptions, Source};
use crate::digest::Digest;
use crate::error::Error;

/// What a share computed besides its blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareOutput {
    /// Share 0 only.
    pub diff_id: Option<Digest>,
    pub tar_size: u64,
    /// Share 0 only: the gzip header and 8-byte trailer that frame the joined blocks.
    pub frame: Vec<u8>,
}

/// Builds share `index` of `count` of the layer for `entries`; `emit` gets each of this
/// share's compressed blocks with its number, in order. A loop that reads each source into a
/// [`ShareEncoder`], seeking past what lands in other shares' blocks.
pub fn write_layer_share<S, R: Read + Seek>(
    entries: &[Entry<S>],
    options: &LayerOptions,
    mut open: impl FnMut(&S) -> io::Result<R>,
    (index, count): (u32, u32),
    emit: impl FnMut(u64, Vec<u8>) -> io::Result<()>,
    progress: &mut dyn FnMut(u64),
) -> Result<ShareOutput, Error> {
    let mut encoder = ShareEncoder::new(options, (index, count), emit)?;
    let open = |source: &S| open(source).map(Seeking);
    match &mut encoder.feed {
        Feed::First(layer) => {
            feed_entries(&mut layer.entries, entries, open, progress, &|_| Cut::Read(u64::MAX), true)?;
        }
        Feed::Other(feed) => {
            let cut = |at: u64| {
                let block_end = (at / BLOCK as u64 + 1) * BLOCK as u64;
                if owns((index, count), at, block_end) {
                    Cut::Read(block_end - at)
                } else {
                    Cut::Skip(block_end - at)
                }
            };
            feed_entries(feed, entries, open, progress, &cut, false)?;
        }
    }
    encoder.finish()
}

/// One share of a layer built from bytes handed to it, as [`super::LayerEncoder`] builds
/// the whole: [`ShareEncoder::add`] each entry, then a file's content, where any content
/// that lands only in blocks of other shares ([`owns`], with the offsets [`content_offsets`]
/// gives) may be [`ShareEncoder::skip`]ped instead of read.
pub struct ShareEncoder<F: FnMut(u64, Vec<u8>) -> io::Result<()>> {
    feed: Feed<F>,
}

enum Feed<F: FnMut(u64, Vec<u8>) -> io::Result<()>> {
    /// Share 0 builds the whole stream (it alone has the frame and the diffID) and
    /// deflates its own blocks.
    First(LayerEncoder<Vec<u8>, Shard<F>>),
    Other(EntryFeed<GzipWriter<io::Sink, Shard<F>>>),
}

impl<F: FnMut(u64, Vec<u8>) -> io::Result<()>> std::fmt::Debug for ShareEncoder<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first = matches!(self.feed, Feed::First(_));
        f.debug_struct("ShareEncoder").field("first", &first).finish_non_exhaustive()
    }
}

impl<F: FnMut(u64, Vec<u8>) -> io::Result<()>> ShareEncoder<F> {
    pub fn new(options: &LayerOptions, (index, count): (u32, u32), emit: F) -> Result<Self, Error> {
        let shard = Shard::new(index, count, emit);
        let feed = if index == 0 {
            Feed::First(LayerEncoder::new(options, shard, Vec::new())?)
        } else {
            let gzip = GzipWriter::blocks_only(io::sink(), shard, options.gzip);
            Feed::Other(EntryFeed::new(TarWriter::new(gzip, options.mtime)))
        };
        Ok(ShareEncoder { feed })
    }

    pub fn add<S>(&mut self, entry: &Entry<S>) -> Result<(), Error> {
        match &mut self.feed {
            Feed::First(layer) => layer.add(entry),
            Feed::Other(feed) => feed.add(entry),
        }
    }

    pub fn content(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match &mut self.feed {
            Feed::First(layer) => layer.content(bytes),
            Feed::Other(feed) => feed.content(bytes),
        }
    }

    /// `n` bytes of the open file that fall in no block of this share (never for share 0).
    pub fn skip(&mut self, n: u64) -> Result<(), Error> {
        match &mut self.feed {
            Feed::First(_) => Err(Error::LayerWrite { source: io::Error::other("share 0 reads every byte") }),
            Feed::Other(feed) => feed.skip(n),
        }
    }

    pub fn finish(self) -> Result<ShareOutput, Error> {
        match self.feed {
            Feed::First(layer) => {
                let (digests, frame) = layer.finish()?;
                Ok(ShareOutput { diff_id: Some(digests.diff_id), tar_size: digests.tar_size, frame })
            }
            Feed::Other(feed) => {
                let (gzip, tar_size) = feed.finish()?;
                gzip.finish().map_err(|source| Error::LayerWrite { source })?;
                Ok(ShareOutput { diff_id: None, tar_size, frame: Vec::new() })
            }
        }
    }
}

/// Whether share `index` of `count` deflates any block of the tar bytes `from..to`.
pub fn owns((index, count): (u32, u32), from: u64, to: u64) -> bool {
    let blocks = from / BLOCK as u64..to.max(from + 1).div_ceil(BLOCK as u64);
    index == 0 || blocks.into_iter().any(|n| share_of(n, count) == index)
}

/// The tar offset of each entry's content in the layer for `entries` (without building it),
/// for a share to tell which file bytes it needs before it reads them.
pub fn content_offsets<S>(entries: &[Entry<S>], mtime: u64) -> Result<Vec<u64>, Error> {
    let mut feed = EntryFeed::new(TarWriter::new(io::sink(), mtime));
    let mut offsets = Vec::with_capacity(entries.len());
    for entry in entries {
        feed.add(entry)?;
        offsets.push(feed.tar.position());
        if let EntryKind::File { size, .. } = &entry.kind {
            feed.skip(*size)?;
        }
    }
    Ok(offsets)
}

/// A source a share seeks in, past content it does not deflate.
struct Seeking<R>(R);

impl<R: Read> Read for Seeking<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read + Seek> Source for Seeking<R> {
    fn skip(&mut self, n: u64) -> io::Result<()> {
        self.0.seek(SeekFrom::Current(n as i64)).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::BTreeMap;
    use std::io::Cursor;
    use std::rc::Rc;

    use super::*;
    use crate::layer::gzip::{Profile, Sequential, BLOCK_SIZE};
    use crate::layer::write_layer;
    use crate::layer::{EntryKind, LayerPath, Plan, MODE_FILE};

    fn noise(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.max(1);
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if (i / 3000) % 2 == 0 {
                    x as u8
                } else {
                    b"layer "[i % 6]
                }
            })
            .collect()
    }

    #[test]
    fn share_zero_takes_one_block_in_each_cycle_and_the_others_two() {
        let owners: Vec<u32> = (0..10).map(|n| share_of(n, 3)).collect();
        assert_eq!(owners, [0, 1, 1, 2, 2, 0, 1, 1, 2, 2]);
        assert!((0..5).all(|n| share_of(n, 1) == 0));
    }

    #[test]
    fn shares_join_to_the_one_thread_bytes() {
        let sizes = [0, 10, BLOCK_SIZE - 700, 3 * BLOCK_SIZE + 5, 40_000, BLOCK_SIZE, 7];
        let mut plan = Plan::new();
        for (i, size) in sizes.iter().enumerate() {
            let kind = EntryKind::File { mode: MODE_FILE, size: *size as u64, source: noise(*size, i as u32 + 1) };
            plan.add(LayerPath::new(&format!("/d{}/f{i}", i % 3)).unwrap(), kind).unwrap();
        }
        // Blocks of nothing but noise, which profile 2 stores.
        let mut x = 77u32;
        let pure: Vec<u8> = (0..2 * BLOCK_SIZE + 99)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 8) as u8
            })
            .collect();
        let kind = EntryKind::File { mode: MODE_FILE, size: pure.len() as u64, source: pure };
        plan.add(LayerPath::new("/d1/pure").unwrap(), kind).unwrap();
        let entries = plan.into_entries();
        for gzip in Profile::PINNED {
            shares_join(&entries, &LayerOptions { gzip, ..LayerOptions::default() });
        }
    }

    fn shares_join(entries: &[Entry<Vec<u8>>], options: &LayerOptions) {
        let open = |s: &Vec<u8>| Ok(Cursor::new(s.clone()));
        let (whole, blob) = write_layer(entries, options, open, Sequential, Vec::new(), &mut |_| {}).unwrap();
        for count in [1u32, 2, 3, 5] {
            let mut blocks = BTreeMap::new();
            let mut first = None;
            for index in 0..count {
                let mut mine = Vec::new();
                let out = write_layer_share(
                    entries,
                    options,
                    open,
                    (index, count),
                    |n, b| {
                        mine.push((n, b));
                        Ok(())
                    },
                    &mut |_| {},
                )
                .unwrap();
                assert_eq!(out.tar_size, whole.tar_size, "share {index} of {count}");
                blocks.extend(mine);
                first.get_or_insert(out);
            }
            let first = first.unwrap();
            assert_eq!(first.diff_id.as_ref(), Some(&whole.diff_id));
            let mut joined = first.frame[..10].to_vec();
            blocks.values().for_each(|b| joined.extend_from_slice(b));
            joined.extend_from_slice(&first.frame[10..]);
            assert_eq!(joined, blob, "{count} shares, {:?}", options.gzip);
        }
    }

    /// Shares fed as the page's workers feed them, reading only the pieces [`owns`] says
    /// they need (at the offsets [`content_offsets`] gives) and skipping the rest, join to
    /// the one-thread bytes.
    #[test]
    fn fed_shares_skipping_what_they_do_not_own_join_to_the_one_thread_bytes() {
        let mut plan = Plan::new();
        for (i, size) in [BLOCK_SIZE * 3 + 11, 5, 0, BLOCK_SIZE / 2, 2 * BLOCK_SIZE].into_iter().enumerate() {
            let kind = EntryKind::File { mode: MODE_FILE, size: size as u64, source: noise(size, i as u32 + 3) };
            plan.add(LayerPath::new(&format!("/f{i}")).unwrap(), kind).unwrap();
        }
        let entries = plan.into_entries();
        let options = LayerOptions::default();
        let open = |s: &Vec<u8>| Ok(Cursor::new(s.clone()));
        let (_, blob) = write_layer(&entries, &options, open, Sequential, Vec::new(), &mut |_| {}).unwrap();
        let offsets = content_offsets(&entries, options.mtime).unwrap();
        let piece = 300_000;
        for count in [2u32, 3] {
            let (mut blocks, mut first, mut skipped) = (BTreeMap::new(), None, 0);
            for index in 0..count {
                let mut encoder = ShareEncoder::new(&options, (index, count), |n, b| {
                    blocks.insert(n, b);
                    Ok(())
                })
                .unwrap();
                for (entry, offset) in entries.iter().zip(&offsets) {
                    encoder.add(entry).unwrap();
                    let EntryKind::File { source, .. } = &entry.kind else { continue };
                    for (i, p) in source.chunks(piece).enumerate() {
                        let from = offset + (i * piece) as u64;
                        if owns((index, count), from, from + p.len() as u64) {
                            encoder.content(p).unwrap();
                        } else {
                            encoder.skip(p.len() as u64).unwrap();
                            skipped += p.len();
                        }
                    }
                }
                first.get_or_insert(encoder.finish().unwrap());
            }
            assert!(skipped > 0, "{count} shares skipped nothing");
            let first = first.unwrap();
            let mut joined = first.frame[..10].to_vec();
            blocks.values().for_each(|b| joined.extend_from_slice(b));
            joined.extend_from_slice(&first.frame[10..]);
            assert_eq!(joined, blob, "{count} shares");
        }
    }

    /// Counts the bytes a share reads, to show it skips what it does not deflate.
    struct Metered {
        inner: Cursor<Vec<u8>>,
        read: Rc<Cell<u64>>,
    }

    impl Read for Metered {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n as u64);
            Ok(n)
        }
    }

    impl Seek for Metered {
        fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
            self.inner.seek(to)
        }
    }

    #[test]
    fn later_shares_read_only_their_blocks() {
        let data = noise(8 * BLOCK_SIZE, 9);
        let mut plan = Plan::new();
        plan.add(
            LayerPath::new("/big").unwrap(),
            EntryKind::File { mode: MODE_FILE, size: data.len() as u64, source: data },
        )
        .unwrap();
        let entries = plan.into_entries();
        let read = Rc::new(Cell::new(0u64));
        let open = |s: &Vec<u8>| Ok(Metered { inner: Cursor::new(s.clone()), read: Rc::clone(&read) });
        write_layer_share(&entries, &LayerOptions::default(), open, (1, 4), |_, _| Ok(()), &mut |_| {}).unwrap();
        let share = read.get();
        // Share 1 of 4 deflates blocks 1 and 2 of each 7: 2 or 3 of the 8 here, plus slack.
        assert!(share >= 2 * BLOCK_SIZE as u64 && share < 4 * BLOCK_SIZE as u64, "read {share} of {}", 8 * BLOCK_SIZE);
    }
}
