//! One share of a layer build spread over workers that cannot wait for one another (the page's
//! Web Workers): share `index` of `count` deflates the blocks of the layer's gzip profile that
//! [`share_of`] gives it (see [`Shard`]). Interleaving every share's blocks by number between
//! share 0's header and trailer gives exactly the bytes of a one-thread build.
//!
//! Share 0 reads every byte: it alone computes the diffID, the tar size and the gzip trailer,
//! and notices a file that shrank or grew. The other shares only need the bytes of their own
//! blocks, so they seek past file content that falls in blocks they do not deflate and hash
//! nothing: with `count` workers, each reads about 1/`count` of the input, not all of it.

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::rc::Rc;

use super::gzip::{share_of, GzipWriter, Shard, BLOCK_SIZE};
use super::tar::TarWriter;
use super::{append_entries, write_layer, Entry, LayerOptions};
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
/// share's compressed blocks with its number, in order.
pub fn write_layer_share<S, R: Read + Seek>(
    entries: &[Entry<S>],
    options: &LayerOptions,
    mut open: impl FnMut(&S) -> io::Result<R>,
    (index, count): (u32, u32),
    emit: impl FnMut(u64, Vec<u8>) -> io::Result<()>,
    progress: &mut dyn FnMut(u64),
) -> Result<ShareOutput, Error> {
    let shard = Shard::new(index, count, emit);
    if index == 0 {
        let (digests, frame) = write_layer(entries, options, open, shard, Vec::new(), progress)?;
        return Ok(ShareOutput { diff_id: Some(digests.diff_id), tar_size: digests.tar_size, frame });
    }
    let write_err = |source: io::Error| Error::LayerWrite { source };
    let position = Rc::new(Cell::new(0u64));
    let owned = |offset: u64| share_of(offset / BLOCK_SIZE as u64, count) == index;
    let gzip = GzipWriter::blocks_only(io::sink(), shard, options.gzip);
    let mut tar = TarWriter::new(Counting { inner: gzip, position: Rc::clone(&position) }, options.mtime);
    let open = |source: &S| open(source).map(|inner| Skipping { inner, position: Rc::clone(&position), owned: &owned });
    append_entries(&mut tar, entries, open, progress, false)?;
    let counting = tar.into_inner().map_err(write_err)?;
    counting.inner.finish().map_err(write_err)?;
    Ok(ShareOutput { diff_id: None, tar_size: position.get(), frame: Vec::new() })
}

/// Counts what is written: the tar offset the next byte lands at.
struct Counting<W> {
    inner: W,
    position: Rc<Cell<u64>>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.position.set(self.position.get() + n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A file's content as this share needs it: real bytes where they land in a block the share
/// deflates, zeros (and a seek past the source) elsewhere. Relies on the tar writer copying
/// content through a buffer it writes before reading again, so `position` is where the bytes
/// being read will land.
struct Skipping<'a, R> {
    inner: R,
    position: Rc<Cell<u64>>,
    owned: &'a dyn Fn(u64) -> bool,
}

impl<R: Read + Seek> Read for Skipping<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let at = self.position.get();
        let block_end = (at / BLOCK_SIZE as u64 + 1) * BLOCK_SIZE as u64;
        let n = buf.len().min((block_end - at).min(usize::MAX as u64) as usize);
        if (self.owned)(at) {
            return self.inner.read(&mut buf[..n]);
        }
        self.inner.seek(SeekFrom::Current(n as i64))?;
        buf[..n].fill(0);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Cursor;

    use super::*;
    use crate::layer::gzip::{Profile, Sequential};
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
