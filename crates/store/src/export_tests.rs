//! Exports of layers built with the `tar` crate, read back member by member.

use std::io::Read;

use tar::EntryType;

use super::*;
use crate::unpack::tests::{labelled, Layer, MTIME};

/// One member of an exported tar: name, type, mode, owner, mtime, link target, content.
#[derive(Debug, PartialEq, Eq)]
struct Out {
    name: String,
    kind: EntryType,
    mode: u32,
    owner: (u64, u64),
    mtime: u64,
    link: Option<String>,
    content: String,
}

fn export_layers(blobs: Vec<Vec<u8>>) -> (Vec<Out>, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let mut warnings = Vec::new();
    let tar = export(scratch.path(), labelled(blobs), Vec::new(), &UnpackOptions::default(), &mut |w| warnings.push(w))
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut archive = tar::Archive::new(&tar[..]);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let h = entry.header().clone();
        let mut content = String::new();
        entry.read_to_string(&mut content).unwrap();
        out.push(Out {
            name: String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
            kind: h.entry_type(),
            mode: h.mode().unwrap(),
            owner: (h.uid().unwrap(), h.gid().unwrap()),
            mtime: h.mtime().unwrap(),
            link: entry.link_name_bytes().map(|l| String::from_utf8(l.into_owned()).unwrap()),
            content,
        });
    }
    (out, scratch)
}

fn names(out: &[Out]) -> Vec<(&str, EntryType)> {
    out.iter().map(|o| (o.name.as_str(), o.kind)).collect()
}

#[test]
fn the_merged_tree_in_tree_order_with_the_layers_metadata() {
    let l1 = Layer::new()
        .dir("etc")
        .file("etc/motd", b"old")
        .file_mode("usr/bin/tool", b"v1", 0o755)
        .dir("var/old")
        .file("var/old/f", b"f")
        .special(EntryType::Char, "dev/null");
    let l2 = Layer::new()
        .whiteout("var/old")
        .hardlink("usr/bin/tool-link", "usr/bin/tool")
        .symlink("bin", "usr/bin")
        .file("etc/motd", b"new")
        .file("etc/.wh..wh..opq", b"");
    let l3 = Layer::new().file("usr/bin/tool", b"v2").hardlink("usr/bin/tool-2", "usr/bin/tool");
    let (out, scratch) = export_layers(vec![l1.gzip(), l2.zstd(), l3.tar()]);
    assert_eq!(
        names(&out),
        [
            ("bin", EntryType::Symlink),
            ("dev/", EntryType::Directory),
            ("dev/null", EntryType::Char),
            ("etc/", EntryType::Directory),
            ("etc/motd", EntryType::Regular),
            ("usr/", EntryType::Directory),
            ("usr/bin/", EntryType::Directory),
            ("usr/bin/tool", EntryType::Regular),
            ("usr/bin/tool-2", EntryType::Link),
            ("usr/bin/tool-link", EntryType::Regular),
            ("var/", EntryType::Directory),
        ]
    );
    let by_name = |n: &str| out.iter().find(|o| o.name == n).unwrap();
    // Owners and times from the layers, though this test need not run as root.
    let motd = by_name("etc/motd");
    assert_eq!((motd.mode, motd.owner, motd.mtime, motd.content.as_str()), (0o644, (1000, 100), MTIME, "new"));
    assert_eq!(by_name("usr/bin/tool-2").link.as_deref(), Some("usr/bin/tool"));
    assert_eq!(by_name("usr/bin/tool").content, "v2");
    // Linked before the file was replaced: keeps the old content, as its own file.
    assert_eq!((by_name("usr/bin/tool-link").content.as_str(), by_name("usr/bin/tool-link").mode), ("v1", 0o755));
    assert_eq!(by_name("bin").link.as_deref(), Some("usr/bin"));
    assert_eq!(by_name("usr/").mode, 0o755);
    assert_eq!(by_name("dev/null").owner, (1000, 100));
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0, "the scratch tree is removed");
}

#[test]
fn hard_links_within_one_layer_and_long_names() {
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(150));
    let layer = Layer::new().pax_file(&long, b"long").hardlink("short", &long).file("a", b"a").hardlink("b", "a");
    let (out, _scratch) = export_layers(vec![layer.tar()]);
    let link_of = |n: &str| out.iter().find(|o| o.name == n).unwrap().link.clone();
    assert_eq!(out.iter().find(|o| o.name == long).unwrap().content, "long");
    assert_eq!(link_of("short").as_deref(), Some(long.as_str()));
    assert_eq!(link_of("b").as_deref(), Some("a"));
}

#[test]
fn hard_links_to_devices_stay_hard_links() {
    let layer = Layer::new().special(EntryType::Char, "dev/null").hardlink("dev/null2", "dev/null").tar();
    let (out, _scratch) = export_layers(vec![layer]);
    assert_eq!(
        names(&out),
        [("dev/", EntryType::Directory), ("dev/null", EntryType::Char), ("dev/null2", EntryType::Link)]
    );
    assert_eq!(out[2].link.as_deref(), Some("dev/null"));
}

#[test]
fn hostile_layers_are_refused_as_in_unpack() {
    let scratch = tempfile::tempdir().unwrap();
    let layers = labelled(vec![Layer::new().symlink("etc", "/etc").file("etc/evil", b"x").tar()]);
    let err = export(scratch.path(), layers, Vec::new(), &UnpackOptions::default(), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("member \"etc/evil\" is refused"), "{err}");
}
