//! Layers built member by member with the `tar` crate, unpacked into temporary directories.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::*;

pub(crate) const MTIME: u64 = 1_700_000_000;

/// A layer built member by member.
pub(crate) struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    pub(crate) fn new() -> Layer {
        Layer(tar::Builder::new(Vec::new()))
    }

    fn header(kind: EntryType, mode: u32, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(1000);
        h.set_gid(100);
        h.set_mtime(MTIME);
        h
    }

    pub(crate) fn file(self, path: &str, data: &[u8]) -> Layer {
        self.file_mode(path, data, 0o644)
    }

    pub(crate) fn file_mode(mut self, path: &str, data: &[u8], mode: u32) -> Layer {
        let mut h = Layer::header(EntryType::Regular, mode, data.len() as u64);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }

    pub(crate) fn dir(self, path: &str) -> Layer {
        self.dir_mode(path, 0o755)
    }

    pub(crate) fn dir_mode(mut self, path: &str, mode: u32) -> Layer {
        let mut h = Layer::header(EntryType::Directory, mode, 0);
        self.0.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }

    pub(crate) fn symlink(mut self, path: &str, target: &str) -> Layer {
        let mut h = Layer::header(EntryType::Symlink, 0o777, 0);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    pub(crate) fn hardlink(mut self, path: &str, target: &str) -> Layer {
        let mut h = Layer::header(EntryType::Link, 0o644, 0);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    pub(crate) fn whiteout(self, path: &str) -> Layer {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let stored = if dir.is_empty() { format!(".wh.{name}") } else { format!("{dir}/.wh.{name}") };
        self.file(&stored, b"")
    }

    pub(crate) fn special(mut self, kind: EntryType, path: &str) -> Layer {
        let mut h = Layer::header(kind, 0o620, 0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        self.0.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }

    /// A member whose name is written into the header as is, past the `tar` crate's checks
    /// (which refuse `..` and absolute names).
    pub(crate) fn raw(mut self, kind: EntryType, name: &str, link: &str, data: &[u8]) -> Layer {
        let mut h = Layer::header(kind, 0o644, data.len() as u64);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    /// A file whose name travels in a PAX record, as Go writes names over 100 bytes.
    pub(crate) fn pax_file(mut self, path: &str, data: &[u8]) -> Layer {
        self.0.append_pax_extensions([("path", path.as_bytes())]).unwrap();
        let mut h = Layer::header(EntryType::Regular, 0o644, data.len() as u64);
        h.as_old_mut().name[..5].copy_from_slice(b"trunc");
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    /// PAX records for the next member.
    pub(crate) fn pax(mut self, records: &[(&str, &[u8])]) -> Layer {
        self.0.append_pax_extensions(records.iter().copied()).unwrap();
        self
    }

    pub(crate) fn tar(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }

    pub(crate) fn gzip(self) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&self.tar()).unwrap();
        gz.finish().unwrap()
    }

    pub(crate) fn zstd(self) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(&self.tar()[..], ruzstd::encoding::CompressionLevel::Fastest)
    }
}

pub(crate) fn labelled(blobs: Vec<Vec<u8>>) -> Vec<(String, std::io::Cursor<Vec<u8>>)> {
    blobs
        .into_iter()
        .enumerate()
        .map(|(i, b)| (format!("layer {} (sha256:test)", i + 1), std::io::Cursor::new(b)))
        .collect()
}

/// A scratch place: `base/root` is unpacked into, `base/outside` must stay untouched.
struct Place {
    _temp: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
}

impl Place {
    fn new() -> Place {
        let temp = tempfile::tempdir().unwrap();
        let base = temp.path().to_owned();
        fs::create_dir(base.join("outside")).unwrap();
        fs::write(base.join("outside/secret"), b"keep").unwrap();
        Place { root: base.join("root"), base, _temp: temp }
    }

    fn unpack_as(&self, blobs: Vec<Vec<u8>>, as_root: bool) -> (Result<UnpackSummary, Error>, Vec<String>) {
        let mut warnings = Vec::new();
        let result = unpack(&self.root, labelled(blobs), &UnpackOptions { as_root }, &mut |w| warnings.push(w));
        (result, warnings)
    }

    fn unpack(&self, blobs: Vec<Vec<u8>>) -> UnpackSummary {
        self.unpack_as(blobs, false).0.unwrap()
    }

    fn refused(&self, blobs: Vec<Vec<u8>>) -> String {
        let err = self.unpack_as(blobs, false).0.unwrap_err().to_string();
        self.nothing_outside();
        err
    }

    /// Nothing beside `root` and `outside`, and `outside` as it was.
    fn nothing_outside(&self) {
        let mut names: Vec<String> =
            fs::read_dir(&self.base).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["outside", "root"]);
        let outside: Vec<_> = fs::read_dir(self.base.join("outside")).unwrap().collect();
        assert_eq!(outside.len(), 1);
        assert_eq!(fs::read(self.base.join("outside/secret")).unwrap(), b"keep");
    }

    fn path(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    /// Every path under the root: `dir 0755`, `file 0644 content`, `link -> target`, …
    fn tree(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        walk(&self.root, &self.root, &mut out);
        out
    }

    fn ino(&self, path: &str) -> u64 {
        fs::symlink_metadata(self.path(path)).unwrap().ino()
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.strip_prefix(root).unwrap().display().to_string();
        let meta = fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let t = meta.file_type();
        let shown = if t.is_dir() {
            walk(root, &path, out);
            format!("dir {mode:04o}")
        } else if t.is_symlink() {
            format!("link -> {}", fs::read_link(&path).unwrap().display())
        } else if t.is_file() {
            format!("file {mode:04o} {}", String::from_utf8_lossy(&fs::read(&path).unwrap()))
        } else if t.is_fifo() {
            format!("fifo {mode:04o}")
        } else {
            format!("special {mode:04o}")
        };
        out.insert(name, shown);
    }
}

fn tree_of(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn sample() -> Layer {
    Layer::new()
        .dir("etc/")
        .file_mode("etc/shadow", b"secret", 0o640)
        .file_mode("usr/bin/tool", b"#!tool", 0o755)
        .symlink("bin", "usr/bin")
        .symlink("usr/bin/sh", "/usr/bin/tool")
        .hardlink("usr/bin/tool2", "usr/bin/tool")
}

#[test]
fn gzip_zstd_and_plain_layers_unpack_alike_with_modes_and_times() {
    let expected = tree_of(&[
        ("bin", "link -> usr/bin"),
        ("etc", "dir 0755"),
        ("etc/shadow", "file 0640 secret"),
        ("usr", "dir 0755"),
        ("usr/bin", "dir 0755"),
        ("usr/bin/sh", "link -> /usr/bin/tool"),
        ("usr/bin/tool", "file 0755 #!tool"),
        ("usr/bin/tool2", "file 0755 #!tool"),
    ]);
    for blob in [sample().tar(), sample().gzip(), sample().zstd()] {
        let place = Place::new();
        let summary = place.unpack(vec![blob]);
        assert_eq!(place.tree(), expected);
        assert_eq!((summary.layers, summary.files, summary.symlinks, summary.hardlinks), (1, 2, 2, 1));
        assert_eq!(place.ino("usr/bin/tool"), place.ino("usr/bin/tool2"));
        for path in ["etc", "etc/shadow", "bin", "usr/bin/tool"] {
            assert_eq!(fs::symlink_metadata(place.path(path)).unwrap().mtime() as u64, MTIME, "{path}");
        }
        // A parent the layer left out keeps the time it was made.
        assert_ne!(fs::symlink_metadata(place.path("usr")).unwrap().mtime() as u64, MTIME);
    }
}

#[test]
fn whiteouts_delete_from_lower_layers_only_whatever_their_place_in_the_layer() {
    let l1 = Layer::new()
        .dir("etc")
        .file("etc/motd", b"old")
        .file("etc/keep", b"k")
        .dir("var/old/d")
        .file("var/old/d/f", b"f")
        .file("var/gone", b"g");
    // The whiteout of etc/motd comes after this layer's own etc/motd, that of var before its
    // var/gone: neither touches its own layer's file.
    let l2 = Layer::new()
        .file("etc/motd", b"new")
        .whiteout("etc/motd")
        .whiteout("var/gone")
        .file("var/gone", b"again")
        .whiteout("var/old")
        .whiteout("nothing/here");
    let place = Place::new();
    let summary = place.unpack(vec![l1.tar(), l2.tar()]);
    assert_eq!(summary.whiteouts, 4);
    assert_eq!(
        place.tree(),
        tree_of(&[
            ("etc", "dir 0755"),
            ("etc/keep", "file 0644 k"),
            ("etc/motd", "file 0644 new"),
            ("var", "dir 0755"),
            ("var/gone", "file 0644 again"),
        ])
    );
}

#[test]
fn a_whiteout_of_a_directory_keeps_what_its_own_layer_put_inside() {
    let l1 = Layer::new().dir_mode("opt", 0o700).file("opt/a", b"a").dir("opt/sub").file("opt/sub/b", b"b");
    let l2 = Layer::new().file("opt/sub/new", b"n").whiteout("opt");
    let place = Place::new();
    place.unpack(vec![l1.tar(), l2.tar()]);
    // opt is now only the parent of the new file: made as a left-out parent is (0755).
    assert_eq!(place.tree(), tree_of(&[("opt", "dir 0755"), ("opt/sub", "dir 0755"), ("opt/sub/new", "file 0644 n")]));
}

#[test]
fn opaque_directories_hide_lower_contents_only() {
    let l1 = Layer::new().dir("opt/data/d").file("opt/data/a", b"a").file("opt/data/d/b", b"b").file("opt/keep", b"k");
    let l2 = Layer::new().dir("opt/data").file("opt/data/new", b"n").file("opt/data/.wh..wh..opq", b"");
    let place = Place::new();
    place.unpack(vec![l1.tar(), l2.tar()]);
    assert_eq!(
        place.tree(),
        tree_of(&[
            ("opt", "dir 0755"),
            ("opt/data", "dir 0755"),
            ("opt/data/new", "file 0644 n"),
            ("opt/keep", "file 0644 k"),
        ])
    );
    let root_opaque = Layer::new().file(".wh..wh..opq", b"").file("y", b"y");
    let place = Place::new();
    place.unpack(vec![Layer::new().file("x", b"x").tar(), root_opaque.tar()]);
    assert_eq!(place.tree(), tree_of(&[("y", "file 0644 y")]));
}

#[test]
fn hard_links_across_layers_survive_replacement_and_deletion_of_the_other_name() {
    let l1 = Layer::new().file("bin/tool", b"v1").file("lib/data", b"d");
    let l2 = Layer::new().hardlink("bin/tool-link", "bin/tool").hardlink("lib/data2", "lib/data");
    // The file is replaced (not written through): its link keeps the old content.
    let l3 = Layer::new().file("bin/tool", b"v2").whiteout("lib/data");
    let place = Place::new();
    place.unpack(vec![l1.tar(), l2.tar(), l3.tar()]);
    assert_eq!(
        place.tree(),
        tree_of(&[
            ("bin", "dir 0755"),
            ("bin/tool", "file 0644 v2"),
            ("bin/tool-link", "file 0644 v1"),
            ("lib", "dir 0755"),
            ("lib/data2", "file 0644 d"),
        ])
    );
    assert_ne!(place.ino("bin/tool"), place.ino("bin/tool-link"));
    assert_eq!(fs::symlink_metadata(place.path("lib/data2")).unwrap().nlink(), 1);
}

#[test]
fn types_replace_each_other_and_parents_are_made() {
    let l1 = Layer::new().dir("d").file("d/x", b"x").file("f", b"f").symlink("s", "/etc").dir_mode("t", 0o700);
    let l2 = Layer::new()
        .symlink("d", "/elsewhere")
        .file("f/inner", b"i")
        .dir("s")
        .file("s/in", b"in")
        .file("deep/er/file", b"z")
        .dir_mode("t", 0o750);
    let place = Place::new();
    place.unpack(vec![l1.tar(), l2.tar()]);
    assert_eq!(
        place.tree(),
        tree_of(&[
            ("d", "link -> /elsewhere"),
            ("deep", "dir 0755"),
            ("deep/er", "dir 0755"),
            ("deep/er/file", "file 0644 z"),
            ("f", "dir 0755"),
            ("f/inner", "file 0644 i"),
            ("s", "dir 0755"),
            ("s/in", "file 0644 in"),
            ("t", "dir 0750"),
        ])
    );
}

#[test]
fn read_only_directories_still_get_their_children() {
    let l1 = Layer::new().dir_mode("ro", 0o555).file_mode("ro/f", b"x", 0o444).dir_mode("ro/sub", 0o500);
    let l2 = Layer::new().file("ro/later", b"y");
    let place = Place::new();
    place.unpack(vec![l1.tar(), l2.tar()]);
    assert_eq!(
        place.tree(),
        tree_of(&[("ro", "dir 0555"), ("ro/f", "file 0444 x"), ("ro/later", "file 0644 y"), ("ro/sub", "dir 0500")])
    );
    assert_eq!(fs::metadata(place.path("ro")).unwrap().mtime() as u64, MTIME);
}

#[test]
fn long_pax_names_unpack() {
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(150));
    let place = Place::new();
    place.unpack(vec![Layer::new().pax_file(&long, b"long").tar()]);
    assert_eq!(fs::read(place.path(&long)).unwrap(), b"long");
}

#[test]
fn devices_need_root_and_fifos_do_not() {
    let layer = || Layer::new().special(EntryType::Char, "dev/null").special(EntryType::Fifo, "run/pipe").tar();
    let place = Place::new();
    let (summary, warnings) = place.unpack_as(vec![layer()], false);
    let summary = summary.unwrap();
    assert_eq!((summary.skipped, summary.specials), (1, 1));
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("layer 1 (sha256:test): member \"dev/null\" is a device node (1,3)"),
        "{}",
        warnings[0]
    );
    assert_eq!(place.tree(), tree_of(&[("dev", "dir 0755"), ("run", "dir 0755"), ("run/pipe", "fifo 0620")]));
    if rustix::process::geteuid().is_root() {
        let place = Place::new();
        let (summary, warnings) = place.unpack_as(vec![layer()], true);
        assert_eq!((summary.unwrap().specials, warnings.len()), (2, 0));
        let meta = fs::symlink_metadata(place.path("dev/null")).unwrap();
        assert!(meta.file_type().is_char_device());
        assert_eq!((meta.rdev(), meta.uid(), meta.gid()), (rustix::fs::makedev(1, 3), 1000, 100));
        assert_eq!(fs::symlink_metadata(place.path("run/pipe")).unwrap().uid(), 1000);
    }
}

#[test]
fn owners_are_kept_as_root() {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let place = Place::new();
    place.unpack_as(vec![sample().tar()], true).0.unwrap();
    for path in ["etc", "etc/shadow", "bin", "usr/bin/tool2"] {
        let meta = fs::symlink_metadata(place.path(path)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1000, 100), "{path}");
    }
    assert_eq!(fs::symlink_metadata(place.path("usr")).unwrap().uid(), 0);
}

#[test]
fn the_directory_must_be_empty_or_absent() {
    let place = Place::new();
    fs::create_dir(&place.root).unwrap();
    place.unpack(vec![Layer::new().file("a", b"a").tar()]);
    let (again, _) = place.unpack_as(vec![Layer::new().file("b", b"b").tar()], false);
    let text = again.unwrap_err().to_string();
    assert!(text.starts_with(&format!("cannot unpack into {}: it is not empty", place.root.display())), "{text}");
    let file = place.base.join("outside/secret");
    let not_dir = unpack(&file, labelled(vec![]), &UnpackOptions::default(), &mut |_| {}).unwrap_err();
    assert!(not_dir.to_string().contains("is not a directory"), "{not_dir}");
}

#[test]
fn names_that_climb_or_are_absolute_are_refused() {
    let cases = [
        ("../outside/evil", "\"../outside/evil\" climbs out of the image root"),
        ("a/../../outside/evil", "climbs out of the image root"),
        ("a/../b", "layer 1 (sha256:test): member \"a/../b\" is refused: its name has a `..` component"),
        ("/outside/evil", "layer 1 (sha256:test): member \"/outside/evil\" is refused: its name is absolute"),
    ];
    for (name, message) in cases {
        let place = Place::new();
        let err = place.refused(vec![Layer::new().raw(EntryType::Regular, name, "", b"evil").tar()]);
        assert!(err.contains(message), "{name}: {err}");
    }
}

#[test]
fn nothing_is_written_through_a_symbolic_link() {
    let outside = |place: &Place| place.base.join("outside").display().to_string();
    // Planted by an earlier layer, then written through.
    let place = Place::new();
    let l1 = Layer::new().symlink("etc", &outside(&place)).tar();
    let err = place.refused(vec![l1, Layer::new().file("etc/secret", b"evil").tar()]);
    assert_eq!(
        err,
        "layer 2 (sha256:test): member \"etc/secret\" is refused: its parent /etc is a symbolic link, and writing \
         through it could land outside the directory"
    );
    // In the same layer, relatively, and deeper down.
    let place = Place::new();
    let l1 = Layer::new().dir("a").symlink("a/up", "../../outside").file("a/up/x/secret", b"evil").tar();
    assert!(place.refused(vec![l1]).contains("its parent /a/up is a symbolic link"));
    // A directory member through a link.
    let place = Place::new();
    let l1 = Layer::new().symlink("d", &outside(&place)).dir("d/sub").tar();
    assert!(place.refused(vec![l1]).contains("member \"d/sub"));
    // A file at the link's own path replaces the link; its target is untouched.
    let place = Place::new();
    let l1 = Layer::new().symlink("secret", &format!("{}/secret", outside(&place))).tar();
    place.unpack(vec![l1, Layer::new().file("secret", b"mine").tar()]);
    place.nothing_outside();
    assert_eq!(place.tree(), tree_of(&[("secret", "file 0644 mine")]));
}

#[test]
fn hard_links_to_outside_or_through_links_are_refused() {
    let place = Place::new();
    let through = Layer::new().symlink("up", "..").hardlink("stolen", "up/outside/secret").tar();
    let err = place.refused(vec![through]);
    assert!(err.contains("member \"stolen\" is refused: it is a hard link to /up/outside/secret, whose parent /up is a symbolic link"), "{err}");
    let place = Place::new();
    let climbing = Layer::new().raw(EntryType::Link, "stolen", "../outside/secret", b"").tar();
    let err = place.refused(vec![climbing]);
    assert!(err.contains("layer 1 (sha256:test) cannot be read: member \"stolen\" is a hard link to \"../outside/secret\", which climbs out"), "{err}");
    let place = Place::new();
    let absolute = Layer::new().raw(EntryType::Link, "stolen", "/etc/passwd", b"").tar();
    assert!(place.refused(vec![absolute]).contains("its link target is absolute"));
    let place = Place::new();
    let missing = Layer::new().hardlink("x", "nowhere").tar();
    assert!(place.refused(vec![missing]).contains("a hard link to /nowhere, which no member before it created"));
    let place = Place::new();
    let to_dir = Layer::new().dir("d").hardlink("x", "d").tar();
    assert!(place.refused(vec![to_dir]).contains("a hard link to /d, a directory"));
    // A hard link to a symbolic link is that link, not what it points to.
    let place = Place::new();
    let to_link = Layer::new().symlink("up", "../outside/secret").hardlink("x", "up").tar();
    place.unpack(vec![to_link]);
    place.nothing_outside();
    assert_eq!(place.tree()["x"], "link -> ../outside/secret");
}

#[test]
fn a_cut_layer_is_an_error_and_what_came_before_stays() {
    let blob = Layer::new().file("first", b"1").file("big", &[7u8; 10_000]).tar();
    let place = Place::new();
    let (result, _) = place.unpack_as(vec![blob[..3000].to_vec()], false);
    let err = result.unwrap_err().to_string();
    assert!(err.contains("layer 1 (sha256:test): member \"big\""), "{err}");
    assert_eq!(fs::read(place.path("first")).unwrap(), b"1");
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(path, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

#[test]
fn extended_attributes_are_set_and_ones_that_cannot_be_are_warnings() {
    // A file capability (cap_net_raw+ep, VFS_CAP_REVISION_2), which only root may set.
    let capability: &[u8] = &[0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let layer = || {
        Layer::new()
            .pax(&[("SCHILY.xattr.user.layerize", b"dir"), ("comment", b"not an xattr")])
            .dir("d")
            .pax(&[("SCHILY.xattr.user.layerize", b"file"), ("SCHILY.xattr.security.capability", capability)])
            .file_mode("d/ping", b"ping", 0o755)
            .tar()
    };
    let place = Place::new();
    let (summary, warnings) = place.unpack_as(vec![layer()], false);
    summary.unwrap();
    assert_eq!(xattr(&place.path("d"), "user.layerize").as_deref(), Some(&b"dir"[..]));
    assert_eq!(xattr(&place.path("d/ping"), "user.layerize").as_deref(), Some(&b"file"[..]));
    if rustix::process::geteuid().is_root() {
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(xattr(&place.path("d/ping"), "security.capability").as_deref(), Some(capability));
        // As root the owner is set too, and before the capability (a chown drops it).
        let place = Place::new();
        place.unpack_as(vec![layer()], true).0.unwrap();
        assert_eq!(fs::metadata(place.path("d/ping")).unwrap().uid(), 1000);
        assert_eq!(xattr(&place.path("d/ping"), "security.capability").as_deref(), Some(capability));
    } else {
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("member \"d/ping\": extended attribute security.capability not set"));
    }
}

#[test]
fn hard_links_to_devices_not_made_are_skipped_with_a_warning() {
    let layer = Layer::new().special(EntryType::Char, "dev/null").hardlink("dev/null2", "dev/null").file("after", b"a");
    let place = Place::new();
    let (summary, warnings) = place.unpack_as(vec![layer.tar()], false);
    assert_eq!(summary.unwrap().skipped, 2);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[1].contains("member \"dev/null2\" is a hard link to /dev/null, a device node not made"));
    assert_eq!(place.tree(), tree_of(&[("after", "file 0644 a"), ("dev", "dir 0755")]));
}
