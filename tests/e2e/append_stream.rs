//! `append` to a registry uploads the new layer while it is built: the images it pushes are
//! byte for byte those of the layer built first (`layerize layer`, `append -o` + `load`),
//! read by skopeo, umoci and Docker; a build that fails part way, or a registry that refuses
//! the blob at its commit, leaves no manifest and no tag.

use std::fs;
use std::path::Path;

use layerize_tests::hostile::noise;
use layerize_tests::oci_layout::sha256_digest;
use layerize_tests::readers;
use layerize_tests::{push_index, push_single, Dockerd, Format, Registry, RegistryAuth};
use serde_json::Value;

use crate::bad_input::has_tags;
use crate::cli::{layerize, pushed_digest};
use crate::files::{AppFiles, HELLO};

const CREATED: &str = "2024-05-06T07:08:09Z";
/// Random bytes and text in the layer: several 1 MiB deflate blocks, stored and deflated,
/// and many pieces through the pipe into the upload.
const NOISE: usize = 3 << 20;
const TEXT: usize = 3 << 20;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("JSON")
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// The README's app files plus a directory of noise and text under `/data`.
struct Tree {
    files: AppFiles,
}

impl Tree {
    fn new() -> Tree {
        let files = AppFiles::new();
        let data = files.dir.path().join("data");
        fs::create_dir_all(&data).expect("mkdir");
        fs::write(data.join("noise.bin"), noise(NOISE)).expect("write");
        let text: Vec<u8> =
            b"line after line of plain text, the same words again\n".iter().copied().cycle().take(TEXT).collect();
        fs::write(data.join("text.txt"), text).expect("write");
        Tree { files }
    }

    /// `-f` arguments and the fixed `--created`/`--history`, so runs give the same digests.
    fn args(&self) -> Vec<String> {
        let mut args = self.files.args();
        args.extend(["-f".into(), format!("{}:/data", path(&self.files.dir.path().join("data")))]);
        args.extend(["--created".into(), CREATED.into(), "--history".into(), "add app and data".into()]);
        args
    }

    /// `layerize layer` of the same files: the layer built offline, into a file.
    fn offline_layer(&self) -> Value {
        let out = self.files.dir.path().join("offline.tar.gz");
        let mut args: Vec<String> = vec!["layer".into()];
        args.extend(self.files.args());
        args.extend(["-f".into(), format!("{}:/data", path(&self.files.dir.path().join("data")))]);
        args.extend(["-o".into(), path(&out), "--json".into()]);
        json(layerize(&argv(&args), None, None).ok().as_bytes())
    }
}

fn argv(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `layerize append BASE TREE -t TARGET EXTRA…`; returns the run.
fn append(base: &str, tree_args: &[String], target: &str, extra: &[&str]) -> crate::cli::Run {
    let mut args = vec!["append".to_owned(), base.to_owned()];
    args.extend(tree_args.iter().cloned());
    args.extend(["-t".into(), target.to_owned()]);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    layerize(&argv(&args), None, None)
}

/// How many times the registry committed an upload of `digest` (`PUT …/blobs/uploads/…?…&digest=…`,
/// the digest URL-encoded in its log, so matched by its hex).
fn commits(registry: &Registry, digest: &str) -> usize {
    let hex = digest.trim_start_matches("sha256:");
    registry
        .log()
        .lines()
        .filter(|l| l.contains("PUT /v2/") && l.contains("/blobs/uploads/") && l.contains(hex))
        .count()
}

/// Whether `repository` holds any manifest at all, tagged or not (the registry's storage).
fn has_manifests(registry: &Registry, repository: &str) -> bool {
    let revisions =
        registry.storage_dir().join("docker/registry/v2/repositories").join(repository).join("_manifests/revisions");
    fs::read_dir(revisions).map(|mut d| d.next().is_some()).unwrap_or(false)
}

#[test]
fn streamed_append_is_byte_identical_and_runs_everywhere() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Docker);
    let tree = Tree::new();
    let base = registry.reference("base:1");

    let run = append(&base, &tree.args(), &registry.reference("app:1"), &[]);
    assert!(run.stderr.contains("uploaded while built"), "the layer went up as it was built:\n{}", run.stderr);
    let digest = pushed_digest(&run.ok(), &registry.reference("app"));

    // The same bytes as the layer built into a file first.
    let raw = readers::skopeo_inspect_raw(&registry, "app:1");
    assert_eq!(sha256_digest(&raw), digest, "the tag serves the pushed manifest");
    let manifest = json(&raw);
    let offline = tree.offline_layer();
    assert_eq!(manifest["layers"][1]["digest"], offline["digest"], "layer digest as `layerize layer`");
    assert_eq!(manifest["layers"][1]["size"], offline["size"]);
    let config = json(&readers::skopeo_inspect_config(&registry, "app:1"));
    assert_eq!(config["rootfs"]["diff_ids"][1], offline["diff_id"], "diffID as `layerize layer`");
    assert_eq!(commits(&registry, offline["digest"].as_str().expect("digest")), 1, "the layer was committed once");

    // The image built into an archive (no streaming) and pushed by `load`: the same manifest.
    let out = tree.files.dir.path().join("app.tar");
    let mut args = vec!["append".to_owned(), base.clone()];
    args.extend(tree.args());
    args.extend(["-o".into(), path(&out), "-t".into(), registry.reference("app:1")]);
    let printed = layerize(&argv(&args), None, None).ok();
    assert_eq!(printed.trim(), format!("{}@{digest}", registry.reference("app")), "-o makes the same image");
    let loaded = layerize(&["load", &path(&out), "-t", &registry.reference("loaded:1")], None, None).ok();
    assert_eq!(pushed_digest(&loaded, &registry.reference("loaded")), digest, "a non-streamed push, same digest");

    // Independent readers: skopeo checks every digest, umoci unpacks, Docker runs it.
    let oci = readers::skopeo_copy_to_oci(&registry, "app:1");
    assert_eq!(readers::diff_ids_match(oci.path()), 1);
    let rootfs = readers::umoci_unpack(oci.path(), oci.tag());
    assert_eq!(fs::read_to_string(rootfs.path().join("opt/app/hello.txt")).expect("hello.txt"), HELLO);
    assert_eq!(fs::read(rootfs.path().join("data/noise.bin")).expect("noise"), noise(NOISE));
    assert_eq!(fs::metadata(rootfs.path().join("data/text.txt")).expect("text").len(), TEXT as u64);
    let docker = Dockerd::start();
    let image = registry.reference(&format!("app@{digest}"));
    docker.pull(&image);
    assert_eq!(docker.run(&image, &["cat", "/opt/app/hello.txt"]), HELLO);
    assert_eq!(docker.run(&image, &["sh", "-c", "busybox wc -c < /data/noise.bin"]).trim(), NOISE.to_string());
}

/// `--all-platforms`: one layer, built and uploaded once, under every image of the index.
#[test]
fn all_platforms_upload_the_streamed_layer_once() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_index(&registry, "multi:1", Format::Oci);
    let tree = Tree::new();
    let run = append(&registry.reference("multi:1"), &tree.args(), &registry.reference("all:1"), &["--all-platforms"]);
    let digest = pushed_digest(&run.ok(), &registry.reference("all"));
    let raw = readers::skopeo_inspect_raw(&registry, "all:1");
    assert_eq!(sha256_digest(&raw), digest);
    let offline = tree.offline_layer();
    let layer = offline["digest"].as_str().expect("digest");
    for entry in json(&raw)["manifests"].as_array().expect("manifests") {
        let m =
            json(&readers::skopeo_inspect_raw(&registry, &format!("all@{}", entry["digest"].as_str().unwrap_or("?"))));
        assert_eq!(m["layers"][1]["digest"], layer, "every platform gets the same new layer");
    }
    assert_eq!(commits(&registry, layer), 1, "built and uploaded once for all platforms");
    let oci = readers::skopeo_copy_all_to_oci(&registry, "all:1");
    assert_eq!(readers::diff_ids_match(oci.path()), 2);
}

/// A file that changes while it is read, after megabytes of the layer went up: the upload is
/// abandoned before its commit, and the target has no manifest and no tag.
#[test]
fn a_build_that_fails_halfway_leaves_no_manifest_and_no_tag() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Oci);
    let tree = Tree::new();
    // `/proc/self/status` is listed as 0 bytes and has more to read; `/zz` sorts after `/data`,
    // so the noise and the text stream into the upload first.
    let mut args = tree.args();
    args.extend(["-f".into(), "/proc/self/status:/zz/status".into()]);
    let e = append(&registry.reference("base:1"), &args, &registry.reference("broken:1"), &[]).fails();
    assert!(e.contains("/zz/status") && e.contains("its size changed while it was read"), "{e}");
    assert!(
        registry.log().contains("POST /v2/broken/blobs/uploads/ "),
        "the upload had started before the build failed:\n{}",
        registry.log()
    );
    assert!(!has_tags(&registry, "broken"), "no tag");
    assert!(!has_manifests(&registry, "broken"), "no manifest, tagged or not");
    assert!(!registry.log().contains("PUT /v2/broken/blobs/uploads/"), "no upload to broken was committed");
}

/// The registry's storage fails the commit of the new layer (the `PUT ?digest=` after every
/// byte went up): nothing is tagged, and no manifest or config follows.
#[test]
fn a_registry_that_refuses_the_commit_leaves_nothing_tagged() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Oci);
    let tree = Tree::new();
    let offline = tree.offline_layer();
    let layer = offline["digest"].as_str().expect("digest").trim_start_matches("sha256:").to_owned();
    // A plain file where the registry will make the blob's directory: the move into place at
    // the commit fails inside the registry (a storage failure it answers with a 5xx).
    let blobs = registry.storage_dir().join("docker/registry/v2/blobs/sha256").join(&layer[..2]);
    fs::create_dir_all(&blobs).expect("mkdir");
    fs::write(blobs.join(&layer), b"in the way").expect("write");

    let e = append(&registry.reference("base:1"), &tree.args(), &registry.reference("refused:1"), &[]).fails();
    assert!(e.contains(&registry.host()) && e.contains("uploading the new layer"), "{e}");
    assert!(
        registry.log().lines().any(|l| l.contains("PUT /v2/refused/blobs/uploads/") && l.contains(&layer)),
        "the registry got the whole layer and refused its commit:\n{}",
        registry.log()
    );
    assert!(!has_tags(&registry, "refused"), "no tag");
    assert!(!has_manifests(&registry, "refused"), "no manifest");
}
