//! The benchmark's input: a deterministic tree, half random bytes and half text, made once per
//! size under `target/bench/tree-<size>MiB/` and reused while its stamp and size still match.
//!
//! Random bytes cost the compressor the most and gain nothing; text compresses well. Both come
//! from a seeded xorshift generator, so every machine measures the same bytes.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

const MIB: u64 = 1 << 20;
const KIB: u64 = 1 << 10;
/// Changing how trees are made must change this, so old trees are regenerated.
const GENERATOR: &str = "layerize-bench-tree v1";
const RANDOM_SEED: u64 = 0x6c61_7965_7269_7a65; // "layerize"
const TEXT_SEED: u64 = 0x7465_7874_2d74_7265; // "text-tre"
const TEXT_FILES_PER_DIR: usize = 64;

/// A generated tree and what it holds.
#[derive(Debug)]
pub struct Tree {
    pub dir: PathBuf,
    pub size_mib: u64,
    pub random_files: usize,
    pub text_files: usize,
}

impl Tree {
    pub fn bytes(&self) -> u64 {
        self.size_mib * MIB
    }

    /// Reads every file once, so the runs that follow find them in the page cache.
    pub fn warm(&self) -> Result<()> {
        let mut buf = vec![0u8; MIB as usize];
        for path in files(&self.dir)? {
            let mut file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
            while file.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))? > 0 {}
        }
        Ok(())
    }

    fn stamp(&self) -> String {
        format!(
            "{GENERATOR} bytes={} random_files={} text_files={}\n",
            self.bytes(),
            self.random_files,
            self.text_files
        )
    }
}

/// The tree of `size_mib` MiB, generated unless a complete one is already there.
pub fn ensure(bench_dir: &Path, size_mib: u64) -> Result<Tree> {
    if size_mib == 0 {
        bail!("the tree size must be at least 1 MiB");
    }
    let dir = bench_dir.join(format!("tree-{size_mib}MiB"));
    // The stamp lives beside the tree, not in it, so it is not part of the layer.
    let stamp_path = bench_dir.join(format!("tree-{size_mib}MiB.stamp"));
    let tree = plan(dir, size_mib);
    if is_complete(&tree, &stamp_path) {
        println!("bench: reusing {} ({size_mib} MiB)", tree.dir.display());
        return Ok(tree);
    }
    println!("bench: generating {} ({size_mib} MiB)", tree.dir.display());
    let _ = fs::remove_file(&stamp_path);
    if tree.dir.exists() {
        fs::remove_dir_all(&tree.dir).with_context(|| format!("cannot remove {}", tree.dir.display()))?;
    }
    let started = std::time::Instant::now();
    generate(&tree)?;
    println!("bench: generated {} in {:.1} s", tree.dir.display(), started.elapsed().as_secs_f64());
    fs::write(&stamp_path, tree.stamp()).with_context(|| format!("cannot write {}", stamp_path.display()))?;
    Ok(tree)
}

fn is_complete(tree: &Tree, stamp_path: &Path) -> bool {
    if fs::read_to_string(stamp_path).ok().as_deref() != Some(tree.stamp().as_str()) {
        return false;
    }
    let Ok(paths) = files(&tree.dir) else {
        return false;
    };
    let total: u64 = paths.iter().filter_map(|p| p.metadata().ok()).map(|m| m.len()).sum();
    paths.len() == tree.random_files + tree.text_files && total == tree.bytes()
}

/// File sizes for each half: random files 1–8 MiB, text files 4–512 KiB, the last file of
/// each half cut so the tree holds exactly `size_mib` MiB.
fn sizes(seed: u64, total: u64, min: u64, max: u64) -> Vec<u64> {
    let mut rng = XorShift::new(seed);
    let mut left = total;
    let mut sizes = Vec::new();
    while left > 0 {
        let size = rng.between(min, max).min(left);
        sizes.push(size);
        left -= size;
    }
    sizes
}

fn random_sizes(size_mib: u64) -> Vec<u64> {
    sizes(RANDOM_SEED, size_mib * MIB / 2, MIB, 8 * MIB)
}

fn text_sizes(size_mib: u64) -> Vec<u64> {
    sizes(TEXT_SEED, size_mib * MIB - size_mib * MIB / 2, 4 * KIB, 512 * KIB)
}

fn plan(dir: PathBuf, size_mib: u64) -> Tree {
    Tree { dir, size_mib, random_files: random_sizes(size_mib).len(), text_files: text_sizes(size_mib).len() }
}

fn generate(tree: &Tree) -> Result<()> {
    // Each half has its own generator for sizes and one for contents, so neither depends on
    // the other or on the tree size beyond where it is cut.
    let mut bytes = XorShift::new(RANDOM_SEED ^ 0xb7e1_5162_8aed_2a6b);
    let random_dir = tree.dir.join("random");
    fs::create_dir_all(&random_dir).with_context(|| format!("cannot create {}", random_dir.display()))?;
    for (i, size) in random_sizes(tree.size_mib).into_iter().enumerate() {
        let mut data = vec![0u8; size as usize];
        bytes.fill(&mut data);
        write(&random_dir.join(format!("blob-{i:04}.bin")), &data)?;
    }

    let mut rng = XorShift::new(TEXT_SEED ^ 0xb7e1_5162_8aed_2a6b);
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    for (i, size) in text_sizes(tree.size_mib).into_iter().enumerate() {
        let dir = tree.dir.join("text").join(format!("d{:03}", i / TEXT_FILES_PER_DIR));
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        write(&dir.join(format!("t-{i:05}.txt")), &text(&mut rng, &words, size as usize))?;
    }
    Ok(())
}

fn write(path: &Path, data: &[u8]) -> Result<()> {
    let mut file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(data).with_context(|| format!("cannot write {}", path.display()))
}

/// Lines of 6–17 words from [`WORDS`], cut to exactly `len` bytes.
fn text(rng: &mut XorShift, words: &[&str], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        for w in 0..rng.between(6, 17) {
            if w > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(words[(rng.next() % words.len() as u64) as usize].as_bytes());
        }
        out.push(b'\n');
    }
    out.truncate(len);
    out
}

/// Every regular file under `dir`, sorted.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// xorshift64* (Vigna): fast, seeded, and the same on every machine; not for secrets.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `min..=max` (the modulo bias is irrelevant here).
    fn between(&mut self, min: u64, max: u64) -> u64 {
        min + self.next() % (max - min + 1)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        let tail = chunks.into_remainder();
        let last = self.next().to_le_bytes();
        tail.copy_from_slice(&last[..tail.len()]);
    }
}

/// A fixed vocabulary (split on whitespace): prose about images and registries, so the text
/// compresses like text.
const WORDS: &str = "\
the a an of to and in is it that for on with as by from at or be this are not its each one two \
every new same only then when which into over under after before again image layer layers \
manifest index config registry blob blobs digest digests diffid tar gzip deflate block blocks \
stream bytes file files directory path name mode owner mtime entry entries header record \
whiteout platform architecture variant amd64 arm64 linux push pull mount upload chunk session \
token scope realm challenge credential password user repository tag reference media type \
descriptor size history created command environment label annotation attestation signature \
browser worker page server proxy request response status error retry timeout cache store copy \
build append mutate flatten verify validate compute write read open close start stop wait send \
receive return keep drop make take give find show print sort hash sum count length offset first \
last next previous small large fast slow deterministic reproducible content addressed immutable \
base target source output input machine core thread memory disk network daemon container runtime \
process kernel filesystem overlay snapshot rootfs binary library crate module function value \
field object array string number boolean null json schema version release debug test bench";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_add_up_to_exactly_the_size() {
        for size_mib in [1, 7, 50, 300] {
            let random: u64 = random_sizes(size_mib).iter().sum();
            let text: u64 = text_sizes(size_mib).iter().sum();
            assert_eq!(random + text, size_mib * MIB);
            assert!(random_sizes(size_mib).iter().all(|&s| s <= 8 * MIB));
            assert!(text_sizes(size_mib).iter().all(|&s| s <= 512 * KIB));
        }
    }

    #[test]
    fn the_generator_is_fixed() {
        // Pinned (checked against an independent implementation): a changed generator changes
        // every tree, so bump GENERATOR along with these values.
        let mut rng = XorShift::new(RANDOM_SEED);
        assert_eq!(rng.next(), 0xd707_d506_0d79_4b8a);
        let mut tail = [0u8; 5];
        rng.fill(&mut tail);
        assert_eq!(tail, 0x22a7_cd43_3c70_d8b9_u64.to_le_bytes()[..5]);
        let words: Vec<&str> = WORDS.split_whitespace().collect();
        let text = text(&mut XorShift::new(TEXT_SEED), &words, 100);
        assert_eq!(text.len(), 100);
        assert!(text.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b' ' || *b == b'\n'));
    }

    #[test]
    fn generates_reuses_and_repairs_a_tree() -> Result<()> {
        let scratch = std::env::temp_dir().join(format!("xtask-tree-test-{}", std::process::id()));
        let tree = ensure(&scratch, 2)?;
        let paths = files(&tree.dir)?;
        let total: u64 = paths.iter().map(|p| p.metadata().map(|m| m.len())).sum::<std::io::Result<u64>>()?;
        assert_eq!(total, 2 * MIB);
        let first = fs::read(&paths[0])?;

        fs::write(&paths[0], b"changed")?;
        let again = ensure(&scratch, 2)?;
        assert_eq!(fs::read(&files(&again.dir)?[0])?, first, "a damaged tree is made again, identically");
        fs::remove_dir_all(&scratch)?;
        Ok(())
    }
}
