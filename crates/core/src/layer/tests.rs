use std::io::Read;

use proptest::prelude::*;

use super::gzip::{Profile, Sequential, BLOCK_SIZE as BLOCK};
use super::*;

fn plan(files: &[(&str, &[u8], u32)]) -> Plan<Vec<u8>> {
    let mut plan = Plan::new();
    for (path, data, mode) in files {
        let kind = EntryKind::File { mode: *mode, size: data.len() as u64, source: data.to_vec() };
        plan.add(LayerPath::new(path).unwrap(), kind).unwrap();
    }
    plan
}

fn build(plan: Plan<Vec<u8>>) -> (LayerDigests, Vec<u8>) {
    let entries = plan.into_entries();
    write_layer(
        &entries,
        &LayerOptions::default(),
        |s: &Vec<u8>| Ok(std::io::Cursor::new(s.clone())),
        Sequential,
        Vec::new(),
        &mut |_| {},
    )
    .unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).unwrap();
    out
}

#[test]
fn digests_describe_the_bytes() {
    let (d, blob) =
        build(plan(&[("/opt/app/hello.txt", b"hello\n", MODE_FILE), ("/usr/bin/run", b"#!/bin/sh\n", MODE_EXEC)]));
    let tar = gunzip(&blob);
    assert_eq!(d.digest, Digest::sha256(&blob));
    assert_eq!(d.size, blob.len() as u64);
    assert_eq!(d.diff_id, Digest::sha256(&tar));
    assert_eq!(d.tar_size, tar.len() as u64);
    let mut archive = ::tar::Archive::new(&tar[..]);
    let listing: Vec<(String, u32, u64, u64)> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (e.path().unwrap().to_string_lossy().into_owned(), h.mode().unwrap(), h.uid().unwrap(), h.mtime().unwrap())
        })
        .collect();
    assert_eq!(
        listing,
        vec![
            ("opt/".into(), 0o755, 0, 0),
            ("opt/app/".into(), 0o755, 0, 0),
            ("opt/app/hello.txt".into(), 0o644, 0, 0),
            ("usr/".into(), 0o755, 0, 0),
            ("usr/bin/".into(), 0o755, 0, 0),
            ("usr/bin/run".into(), 0o755, 0, 0),
        ]
    );
}

#[test]
fn long_names_and_link_targets_use_pax() {
    let long = format!("/{}/{}", "d".repeat(80), "f".repeat(90));
    let mut p = plan(&[(&long, b"x", MODE_FILE)]);
    let target = "t".repeat(150);
    p.add(LayerPath::new("/link").unwrap(), EntryKind::Symlink { target: target.clone() }).unwrap();
    let (_, blob) = build(p);
    let tar = gunzip(&blob);
    let mut archive = ::tar::Archive::new(&tar[..]);
    let mut seen = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
        seen.push((e.path().unwrap().to_string_lossy().into_owned(), link));
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
    }
    assert!(seen.contains(&(long[1..].to_owned(), None)), "{seen:?}");
    assert!(seen.contains(&("link".to_owned(), Some(target))), "{seen:?}");
}

#[test]
fn a_source_of_the_wrong_size_is_an_error_naming_it() {
    let mut p: Plan<Vec<u8>> = Plan::new();
    p.add(LayerPath::new("/x/short").unwrap(), EntryKind::File { mode: MODE_FILE, size: 10, source: b"abc".to_vec() })
        .unwrap();
    let entries = p.into_entries();
    let e = write_layer(
        &entries,
        &LayerOptions::default(),
        |s: &Vec<u8>| Ok(std::io::Cursor::new(s.clone())),
        Sequential,
        Vec::new(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("/x/short"), "{e}");
    assert!(e.to_string().contains("its size changed while it was read"), "{e}");
}

/// Profile 2 stores what will not shrink: a layer of random bytes costs only the framing
/// (5 bytes per 64 KiB stored block, the sync flushes, header and trailer) over its tar,
/// where profile 1 deflates it for nothing.
#[test]
fn profile_2_adds_almost_nothing_to_random_bytes() {
    let mut x: u64 = 0x2545F4914F6CDD1D;
    let data: Vec<u8> = (0..4 * BLOCK + 777)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let entries = plan(&[("/r.bin", &data, MODE_FILE)]).into_entries();
    let open = |s: &Vec<u8>| Ok(std::io::Cursor::new(s.clone()));
    let build = |gzip| {
        let options = LayerOptions { gzip, ..LayerOptions::default() };
        write_layer(&entries, &options, open, Sequential, Vec::new(), &mut |_| {}).unwrap()
    };
    let (v2, blob) = build(Profile::Pinned2);
    let (v1, _) = build(Profile::Pinned1);
    assert_eq!(gunzip(&blob).len() as u64, v2.tar_size);
    assert_eq!(v1.diff_id, v2.diff_id);
    // 5 bytes per 64 KiB stored block: 4 MiB cost 320 bytes, plus the sync flushes, header and
    // trailer; the tail (the last noise, the tar's zero padding) is deflated and shrinks.
    let framing = 5 * v2.tar_size.div_ceil(1 << 16) + 5 * 5 + 18;
    assert!(v2.size <= v2.tar_size + framing, "{} bytes of blob for {} of tar", v2.size, v2.tar_size);
    assert!(v2.size < v2.tar_size + 400, "{} bytes of blob for {} of tar", v2.size, v2.tar_size);
    assert!(v2.size >= data.len() as u64, "noise does not shrink: {} bytes", v2.size);
    assert!(v1.size > v2.size, "deflate at level 6 makes noise larger: {} vs {}", v1.size, v2.size);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// However the files are listed, the layer is the same.
    #[test]
    fn order_of_adding_does_not_matter(files in proptest::collection::btree_map("[a-c]{1,3}(/[a-c]{1,3}){0,2}", proptest::collection::vec(any::<u8>(), 0..200), 1..8), seed in any::<u64>()) {
        // Keep only paths that are not a prefix-directory of another (a file cannot hold files).
        let paths: Vec<&String> = files.keys().filter(|p| !files.keys().any(|q| q.starts_with(&format!("{p}/")))).collect();
        let mut shuffled = paths.clone();
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let make = |order: &[&String]| {
            let list: Vec<(&str, &[u8], u32)> = order.iter().map(|p| (p.as_str(), files[*p].as_slice(), MODE_FILE)).collect();
            build(plan(&list))
        };
        let (a, blob_a) = make(&paths);
        let (b, blob_b) = make(&shuffled);
        prop_assert_eq!(a, b);
        prop_assert_eq!(blob_a, blob_b);
    }
}

/// Content fed to a [`LayerEncoder`] in pieces of any size, as the page's worker feeds what
/// the browser reads, gives the bytes of [`write_layer`]; too much or too little content is an
/// error naming the file.
mod encoder {
    use super::*;

    fn files() -> Plan<Vec<u8>> {
        let big: Vec<u8> = (0..BLOCK + 4321).map(|i| (i * 7 % 251) as u8).collect();
        plan(&[("/a/one", b"one\n", MODE_FILE), ("/a/big", &big, MODE_FILE), ("/b/empty", b"", MODE_EXEC)])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn pieces_of_any_size_give_the_same_bytes(piece in 1usize..200_000) {
            let entries = files().into_entries();
            let (whole, blob) = build(files());
            let mut encoder = LayerEncoder::new(&LayerOptions::default(), Sequential, Vec::new()).unwrap();
            for entry in &entries {
                encoder.add(entry).unwrap();
                if let EntryKind::File { source, .. } = &entry.kind {
                    source.chunks(piece).for_each(|p| encoder.content(p).unwrap());
                }
            }
            let (digests, fed) = encoder.finish().unwrap();
            prop_assert_eq!(digests, whole);
            prop_assert_eq!(fed, blob);
        }
    }

    #[test]
    fn content_beyond_or_short_of_the_size_names_the_file() {
        let entries = files().into_entries();
        let file = |name: &str| entries.iter().find(|e| e.path.to_string() == name).unwrap();
        let mut encoder = LayerEncoder::new(&LayerOptions::default(), Sequential, Vec::new()).unwrap();
        encoder.add(file("/a/one")).unwrap();
        let e = encoder.content(b"one\nand more").unwrap_err().to_string();
        assert!(e.contains("/a/one") && e.contains("4 bytes when listed"), "{e}");
        let mut encoder = LayerEncoder::new(&LayerOptions::default(), Sequential, Vec::new()).unwrap();
        encoder.add(file("/a/one")).unwrap();
        encoder.content(b"on").unwrap();
        let e = encoder.finish().unwrap_err().to_string();
        assert!(e.contains("/a/one") && e.contains("2 bytes short"), "{e}");
    }
}
