//! `unpack` and `export` judged against umoci: a base layer made by `umoci repack` (busybox,
//! so the export runs in docker), then layers written here holding whiteouts, an opaque
//! directory, hard links across layers, a hard-linked file later replaced and one later
//! deleted, symlink chains, long PAX names, a device, a fifo, a setuid file, a read-only
//! directory, owners other than root; the same image with zstd layers (`skopeo copy
//! --dest-compress-format zstd`, which umoci 0.4 cannot read) must unpack the same. Hostile
//! layers are refused and write nothing outside DIR.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use layerize_tests::fixtures::layered::push_layered;
use layerize_tests::oci_layout::{lower_hex, sha256_digest};
use layerize_tests::{readers, tool, Dockerd, Format, OciLayout, Registry, RegistryAuth};
use serde_json::json;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use crate::cli::layerize;

const GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const TAR_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const MTIME: u64 = 1_650_000_000;

/// A layer written member by member.
struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Layer {
        Layer(tar::Builder::new(Vec::new()))
    }

    fn header(kind: EntryType, mode: u32, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h
    }

    fn dir(self, path: &str, mode: u32) -> Layer {
        self.member(EntryType::Directory, path, mode, b"")
    }

    fn file(self, path: &str, data: &[u8]) -> Layer {
        self.member(EntryType::Regular, path, 0o644, data)
    }

    fn member(mut self, kind: EntryType, path: &str, mode: u32, data: &[u8]) -> Layer {
        let mut h = Layer::header(kind, mode, data.len() as u64);
        self.0.append_data(&mut h, path, data).expect("append");
        self
    }

    fn owned(mut self, path: &str, data: &[u8], uid: u64, gid: u64) -> Layer {
        let mut h = Layer::header(EntryType::Regular, 0o640, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        self.0.append_data(&mut h, path, data).expect("append");
        self
    }

    fn link(mut self, kind: EntryType, path: &str, target: &str) -> Layer {
        let mut h = Layer::header(kind, 0o777, 0);
        self.0.append_link(&mut h, path, target).expect("append link");
        self
    }

    fn device(mut self, kind: EntryType, path: &str, major: u32, minor: u32) -> Layer {
        let mut h = Layer::header(kind, 0o666, 0);
        h.set_device_major(major).expect("major");
        h.set_device_minor(minor).expect("minor");
        self.0.append_data(&mut h, path, std::io::empty()).expect("append device");
        self
    }

    /// A member whose name and link target go into the header as they are, past the `tar`
    /// crate's refusal of `..` and absolute names.
    fn raw(mut self, kind: EntryType, name: &str, link: &str, data: &[u8]) -> Layer {
        let mut h = Layer::header(kind, 0o644, data.len() as u64);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        self.0.append(&h, data).expect("append raw");
        self
    }

    fn tar(self) -> Vec<u8> {
        self.0.into_inner().expect("tar")
    }
}

fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(tar).expect("gzip");
    gz.finish().expect("gzip")
}

fn umoci(args: &[&str]) {
    tool::run(Command::new("umoci").args(args));
}

/// A layout in `dir` with tag `base`: one layer by `umoci repack` holding the static busybox
/// as `/bin/busybox` and `/bin/sh` → busybox.
fn base_layout(dir: &Path) -> PathBuf {
    tool::require_tool("umoci");
    tool::require_tool("busybox");
    let layout = dir.join("oci");
    let image = format!("{}:base", layout.display());
    umoci(&["init", "--layout", &layout.display().to_string()]);
    umoci(&["new", "--image", &image]);
    let bundle = dir.join("bundle");
    umoci(&["unpack", "--image", &image, &bundle.display().to_string()]);
    let root = bundle.join("rootfs");
    fs::create_dir_all(root.join("bin")).expect("mkdir bin");
    let busybox = tool::tool_path("busybox").expect("busybox");
    fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).expect("symlink");
    fs::write(root.join("motd"), "base\n").expect("motd");
    umoci(&["repack", "--image", &image, &bundle.display().to_string()]);
    umoci(&["config", "--image", &image, "--os", "linux", "--architecture", "amd64"]);
    layout
}

/// Tags `to` as `from` with `layers` (media type, blob, uncompressed tar) added on top.
fn append_layers(layout: &OciLayout, from: &str, to: &str, layers: Vec<(&str, Vec<u8>, Vec<u8>)>) {
    let mut manifest = layout.read_json(layout.tagged(from)["digest"].as_str().expect("digest"));
    let mut config = layout.read_json(manifest["config"]["digest"].as_str().expect("config"));
    for (i, (media_type, blob, tar)) in layers.into_iter().enumerate() {
        let descriptor = layout.write_blob(media_type, &blob);
        manifest["layers"].as_array_mut().expect("layers").push(descriptor);
        config["rootfs"]["diff_ids"].as_array_mut().expect("diff_ids").push(json!(sha256_digest(&tar)));
        if let Some(history) = config["history"].as_array_mut() {
            history.push(json!({ "created_by": format!("e2e unpack layer {i}") }));
        }
    }
    manifest["config"] = layout.write_json("application/vnd.oci.image.config.v1+json", &config);
    manifest["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
    let descriptor = layout.write_json("application/vnd.oci.image.manifest.v1+json", &manifest);
    layout.tag(to, &descriptor);
}

fn long_dir() -> String {
    format!("long/{}", "p".repeat(130))
}

/// The layers over the base, as (media type, blob, tar).
fn fixture_layers() -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let long_file = format!("{}/{}", long_dir(), "f".repeat(120));
    let two = Layer::new()
        .dir("etc", 0o755)
        .file("etc/motd", b"motd v1\n")
        .file("etc/keep", b"keep\n")
        .owned("etc/shadow", b"root:*:1::::::\n", 0, 42)
        .dir("opt", 0o755)
        .dir("opt/data", 0o755)
        .file("opt/data/a", b"a\n")
        .dir("opt/data/sub", 0o700)
        .file("opt/data/sub/c", b"c\n")
        .dir("var", 0o755)
        .member(EntryType::Regular, "var/tool", 0o755, b"tool v1\n")
        .link(EntryType::Link, "var/tool-same-layer", "var/tool")
        .dir("var/old", 0o755)
        .dir("var/old/dir", 0o755)
        .file("var/old/dir/x", b"x\n")
        .dir("usr", 0o755)
        .dir("usr/lib", 0o755)
        .file("usr/lib/app-1.2.3", b"the app\n")
        .link(EntryType::Symlink, "usr/lib/app-1.2", "app-1.2.3")
        .link(EntryType::Symlink, "usr/lib/app", "app-1.2")
        .link(EntryType::Symlink, "app", "/usr/lib/app")
        .dir("long", 0o755)
        .dir(&long_dir(), 0o755)
        .file(&long_file, b"a long name\n")
        .link(EntryType::Symlink, "long-link", &long_file)
        .member(EntryType::Regular, "usr/lib/setuid", 0o4755, b"suid\n")
        .dir("ro", 0o555)
        .file("ro/inside", b"inside a read-only dir\n")
        .owned("home/user/notes", b"owned by 1000:100\n", 1000, 100)
        .device(EntryType::Char, "dev/null", 1, 3)
        .member(EntryType::Fifo, "run/pipe", 0o600, b"")
        .tar();
    let three = Layer::new()
        // The layer's own motd comes before its whiteout: the whiteout spares it.
        .file("etc/motd", b"motd v2\n")
        .file("etc/.wh.motd", b"")
        .file("var/.wh.old", b"")
        .dir("opt/data", 0o755)
        .file("opt/data/.wh..wh..opq", b"")
        .file("opt/data/new", b"new\n")
        .link(EntryType::Link, "var/tool-next-layer", "var/tool")
        .link(EntryType::Link, "usr/lib/app-hard", "usr/lib/app-1.2.3")
        .link(EntryType::Link, &format!("{}/hard", long_dir()), &long_file)
        .tar();
    let four = Layer::new()
        // Replaced after two names were linked to it, and deleted after one was.
        .member(EntryType::Regular, "var/tool", 0o755, b"tool v2\n")
        .file("usr/lib/.wh.app-1.2.3", b"")
        .file("etc/added", b"added last\n")
        .tar();
    vec![(GZIP_LAYER, gzip(&two), two), (TAR_LAYER, three.clone(), three), (GZIP_LAYER, gzip(&four), four)]
}

/// What a path is, as compared between trees.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    mode: u32,
    owner: (u32, u32),
    size: u64,
    sha256: String,
    target: String,
}

/// Every path under `root` (itself left out) and the groups of names that share an inode.
#[derive(Debug, PartialEq, Eq)]
struct Tree {
    nodes: BTreeMap<String, Node>,
    hardlinks: BTreeSet<Vec<String>>,
}

fn tree(root: &Path) -> Tree {
    let mut nodes = BTreeMap::new();
    let mut inodes: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    walk(root, root, &mut nodes, &mut inodes);
    let hardlinks = inodes.into_values().filter(|names| names.len() > 1).collect();
    Tree { nodes, hardlinks }
}

fn walk(root: &Path, dir: &Path, nodes: &mut BTreeMap<String, Node>, inodes: &mut BTreeMap<u64, Vec<String>>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        let name = path.strip_prefix(root).expect("under root").display().to_string();
        let meta = fs::symlink_metadata(&path).expect("lstat");
        let t = meta.file_type();
        let mut node = Node {
            kind: "other",
            mode: meta.permissions().mode() & 0o7777,
            owner: (meta.uid(), meta.gid()),
            size: 0,
            sha256: String::new(),
            target: String::new(),
        };
        if t.is_dir() {
            node.kind = "dir";
            walk(root, &path, nodes, inodes);
        } else if t.is_symlink() {
            node.kind = "symlink";
            node.mode = 0;
            node.target = fs::read_link(&path).expect("readlink").display().to_string();
        } else if t.is_file() {
            node.kind = "file";
            node.size = meta.len();
            node.sha256 = lower_hex(&Sha256::digest(fs::read(&path).expect("read")));
        } else {
            use std::os::unix::fs::FileTypeExt;
            node.kind = if t.is_fifo() { "fifo" } else { "device" };
            node.target = format!("{}", meta.rdev());
        }
        if !t.is_dir() {
            inodes.entry(meta.ino()).or_default().push(name.clone());
        }
        nodes.insert(name, node);
    }
}

/// Where each test works: the layout, and a parent under which DIR goes beside `outside`.
struct Work {
    _temp: tempfile::TempDir,
    base: PathBuf,
    layout: PathBuf,
}

fn work() -> Work {
    let temp = tempfile::Builder::new().prefix("layerize-e2e-unpack-").tempdir().expect("temp dir");
    let base = temp.path().to_owned();
    let layout = base_layout(&base);
    fs::create_dir(base.join("outside")).expect("outside");
    fs::write(base.join("outside/secret"), "keep\n").expect("secret");
    Work { _temp: temp, base, layout }
}

impl Work {
    fn image(&self, name: &str) -> String {
        format!("oci:{}:{name}", self.layout.display())
    }

    fn unpack(&self, name: &str, dir: &str) -> PathBuf {
        let out = self.base.join(dir);
        let stdout = layerize(&["unpack", &self.image(name), &out.display().to_string()], None, None).ok();
        assert_eq!(stdout.trim_end(), out.display().to_string());
        out
    }
}

#[test]
fn unpack_matches_umoci_file_by_file_and_zstd_layers_unpack_alike() {
    let work = work();
    let layout = OciLayout::open(&work.layout);
    append_layers(&layout, "base", "mixed", fixture_layers());

    let ours = tree(&work.unpack("mixed", "ours"));
    let theirs = tree(readers::umoci_unpack(&work.layout, "mixed").path());
    assert_eq!(ours.nodes.keys().collect::<Vec<_>>(), theirs.nodes.keys().collect::<Vec<_>>(), "paths");
    for (path, node) in &ours.nodes {
        assert_eq!(Some(node), theirs.nodes.get(path), "{path}");
    }
    assert_eq!(ours.hardlinks, theirs.hardlinks);
    // The cases are in the fixture, not just equal by accident.
    let file = |path: &str| ours.nodes.get(path).map(|n| n.kind);
    assert_eq!(file("etc/motd"), Some("file"));
    assert_eq!(file("var/old"), None);
    assert_eq!(file("opt/data/a"), None);
    assert_eq!(file("opt/data/new"), Some("file"));
    assert_eq!(file("usr/lib/app-1.2.3"), None);
    assert_eq!(file("dev/null"), Some("device"));
    assert!(ours.hardlinks.contains(&vec!["var/tool-next-layer".to_owned(), "var/tool-same-layer".to_owned()]));
    assert_eq!(fs::read_to_string(work.base.join("ours/var/tool")).expect("tool"), "tool v2\n");
    assert_eq!(fs::read_to_string(work.base.join("ours/usr/lib/app-hard")).expect("app"), "the app\n");

    // The same image with every layer zstd-compressed by skopeo.
    let zstd_layout = work.base.join("zstd");
    tool::run(
        Command::new("skopeo")
            .args(["--insecure-policy", "copy", "--dest-compress-format", "zstd"])
            .arg(format!("oci:{}:mixed", work.layout.display()))
            .arg(format!("oci:{}:mixed", zstd_layout.display())),
    );
    let zstd = OciLayout::open(&zstd_layout);
    let manifest = zstd.read_json(zstd.tagged("mixed")["digest"].as_str().expect("digest"));
    let zstd_layers = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter(|l| l["mediaType"].as_str().is_some_and(|m| m.ends_with("+zstd")))
        .count();
    assert!(zstd_layers >= 3, "skopeo wrote no zstd layers: {manifest}");
    let out = work.base.join("from-zstd");
    layerize(&["unpack", &format!("oci:{}:mixed", zstd_layout.display()), &out.display().to_string()], None, None).ok();
    assert_eq!(tree(&out), ours);
}

#[test]
fn export_is_the_unpacked_tree_and_docker_runs_it() {
    let work = work();
    let layout = OciLayout::open(&work.layout);
    append_layers(&layout, "base", "mixed", fixture_layers());
    let unpacked = work.unpack("mixed", "ours");
    let exported = work.base.join("export.tar");
    layerize(&["export", &work.image("mixed"), "-o", &exported.display().to_string()], None, None).ok();

    let listing = tool::run_stdout(Command::new("tar").arg("-tf").arg(&exported));
    let listed: BTreeSet<String> = listing.lines().map(|l| l.trim_end_matches('/').to_owned()).collect();
    let ours = tree(&unpacked);
    assert_eq!(listed, ours.nodes.keys().cloned().collect::<BTreeSet<_>>());
    assert_eq!(listing.lines().count(), listed.len(), "a path is in the tar twice");

    // Extracted by GNU tar (as root: owners, modes, devices, hard links), the same tree.
    let extracted = work.base.join("extracted");
    fs::create_dir(&extracted).expect("mkdir");
    tool::run(
        Command::new("tar").args(["--same-owner", "--numeric-owner", "-xpf"]).arg(&exported).arg("-C").arg(&extracted),
    );
    assert_eq!(tree(&extracted), ours);

    let docker = Dockerd::start();
    let imported = tool::run_stdout(docker.docker().args(["import"]).arg(&exported).arg("layerize-export:e2e"));
    assert!(imported.trim().starts_with("sha256:"), "{imported}");
    docker.run("layerize-export:e2e", &["/bin/busybox", "true"]);
    let motd = docker.run("layerize-export:e2e", &["/bin/busybox", "cat", "/etc/motd", "/var/tool-same-layer"]);
    assert_eq!(motd, "motd v2\ntool v1\n");
}

/// The layered fixture, every layer by umoci itself (its whiteouts, one under a directory that
/// became a symbolic link, an `insert --opaque` layer that ends without end-of-archive blocks),
/// unpacked from the registry in both formats: the same tree as umoci's.
#[test]
fn umoci_made_layers_unpack_as_umoci_unpacks_them() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let temp = tempfile::Builder::new().prefix("layerize-e2e-unpack-").tempdir().expect("temp dir");
    let mut theirs = None;
    for (format, name) in [(Format::Oci, "oci"), (Format::Docker, "docker")] {
        let repo_tag = format!("layered-{name}:1");
        push_layered(&registry, &repo_tag, format);
        let dir = temp.path().join(name);
        layerize(&["unpack", &registry.reference(&repo_tag), &dir.display().to_string()], None, None).ok();
        let theirs = theirs.get_or_insert_with(|| {
            let oci = readers::skopeo_copy_to_oci(&registry, &repo_tag);
            tree(readers::umoci_unpack(oci.path(), oci.tag()).path())
        });
        let ours = tree(&dir);
        assert!(ours.nodes.contains_key("opt/app/data/only.txt"), "{name}: the opaque layer is missing");
        assert!(!ours.hardlinks.is_empty(), "{name}: no hard links");
        assert_eq!(ours.nodes.keys().collect::<Vec<_>>(), theirs.nodes.keys().collect::<Vec<_>>(), "{name}: paths");
        for (path, node) in &ours.nodes {
            assert_eq!(Some(node), theirs.nodes.get(path), "{name}: {path}");
        }
        assert_eq!(&ours.hardlinks, &theirs.hardlinks, "{name}");
    }
}

/// Each hostile layer over the base: refused, naming the layer and the member, and nothing
/// written beside DIR or into `outside`.
#[test]
fn hostile_layers_are_refused_and_nothing_lands_outside() {
    let work = work();
    let layout = OciLayout::open(&work.layout);
    let relative_escape = Layer::new().link(EntryType::Symlink, "escape", "../outside").tar();
    let cases: Vec<(&str, Vec<Vec<u8>>, &str)> = vec![
        ("climb", vec![Layer::new().raw(EntryType::Regular, "../outside/evil", "", b"evil").tar()], "../outside/evil"),
        ("absolute", vec![Layer::new().raw(EntryType::Regular, "/outside/evil", "", b"evil").tar()], "/outside/evil"),
        (
            "through-symlink",
            vec![relative_escape.clone(), Layer::new().raw(EntryType::Regular, "escape/evil", "", b"evil").tar()],
            "escape/evil",
        ),
        (
            "same-layer-symlink",
            vec![Layer::new()
                .link(EntryType::Symlink, "up", "..")
                .raw(EntryType::Regular, "up/outside/evil", "", b"evil")
                .tar()],
            "up/outside/evil",
        ),
        ("hardlink-out", vec![Layer::new().raw(EntryType::Link, "stolen", "../outside/secret", b"").tar()], "stolen"),
        (
            "hardlink-through",
            vec![relative_escape, Layer::new().raw(EntryType::Link, "stolen", "escape/secret", b"").tar()],
            "stolen",
        ),
    ];
    for (name, layers, member) in cases {
        let count = layers.len();
        let blobs = layers.into_iter().map(|tar| (TAR_LAYER, tar.clone(), tar)).collect();
        append_layers(&layout, "base", name, blobs);
        let dir = work.base.join(format!("dir-{name}"));
        let err = layerize(&["unpack", &work.image(name), &dir.display().to_string()], None, None).fails();
        let layer = format!("layer {}", count + 1);
        assert!(err.contains(&layer) && err.contains(member), "{name}: {layer} and {member} not named in:\n{err}");
        let mut beside: Vec<String> = fs::read_dir(&work.base)
            .expect("read base")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("dir-"))
            .collect();
        beside.sort();
        assert_eq!(beside, ["bundle", "oci", "outside"], "{name}");
        let outside: Vec<_> = fs::read_dir(work.base.join("outside")).expect("outside").collect();
        assert_eq!(outside.len(), 1, "{name}: something was written into outside/");
        assert_eq!(fs::read_to_string(work.base.join("outside/secret")).expect("secret"), "keep\n");
    }
}

#[test]
fn the_directory_must_be_empty() {
    let work = work();
    let dir = work.base.join("full");
    fs::create_dir(&dir).expect("mkdir");
    fs::write(dir.join("already"), "here").expect("write");
    let err = layerize(&["unpack", &work.image("base"), &dir.display().to_string()], None, None).fails();
    assert!(err.contains(&dir.display().to_string()) && err.contains("not empty"), "{err}");
    assert_eq!(fs::read_dir(&dir).expect("read").count(), 1);
    let unpacked = work.unpack("base", "fresh");
    assert_eq!(fs::read_to_string(unpacked.join("motd")).expect("motd"), "base\n");
}
