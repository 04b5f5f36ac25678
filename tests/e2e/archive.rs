//! `layerize save`, `layerize load` and `append` with archives, judged by docker, podman and
//! skopeo: every tar `save` writes loads everywhere; tars written by docker, podman and
//! skopeo load; digests survive registry → tar → registry; bad tars push nothing.

use std::fs;
use std::io::{Cursor, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use layerize_tests::oci_layout::sha256_digest;
use layerize_tests::{push_index, push_single, readers, tool, Dockerd, Format, Registry, RegistryAuth};
use serde_json::Value;

use crate::bad_input::has_tags;
use crate::cli::{layerize, pushed_digest};
use crate::files::{AppFiles, HELLO};

const CREATED: &str = "2024-05-06T07:08:09Z";

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("JSON")
}

fn run_ok(args: &[String]) -> String {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    layerize(&argv, None, None).ok()
}

fn run_fails(args: &[String]) -> String {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    layerize(&argv, None, None).fails()
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `layerize append BASE -f app -t TARGET` (or `-o FILE`) with a fixed `--created`, so two
/// appends of the same base give the same digest; returns stdout.
fn append(base: &str, files: &AppFiles, out: &[&str]) -> String {
    let mut a = args(&["append", base]);
    a.extend(files.args());
    a.extend(args(&["--created", CREATED]));
    a.extend(args(out));
    run_ok(&a)
}

/// The config digest (the Docker image ID) of an image in the registry.
fn config_digest(registry: &Registry, reference: &str) -> String {
    sha256_digest(&readers::skopeo_inspect_config(registry, reference))
}

/// The digest of the manifest the registry serves for `reference`.
fn manifest_digest(registry: &Registry, reference: &str) -> String {
    sha256_digest(&readers::skopeo_inspect_raw(registry, reference))
}

/// Files left in `dir`, by name.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every image of a tar `save` wrote is read by docker (ID, tags, layers, and a file from
/// the new layer in a container), by podman and by skopeo.
#[test]
fn save_writes_one_tar_that_docker_podman_and_skopeo_load() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Docker);
    push_single(&registry, "oci:1", Format::Oci);
    let files = AppFiles::new();
    let app = registry.reference("app:1");
    append(&registry.reference("base:1"), &files, &["-t", &app]);
    let oci = registry.reference("oci:1");

    let dir = tempfile::tempdir().expect("temp dir");
    let tar = dir.path().join("images.tar");
    let out = run_ok(&args(&["save", &app, &oci, "-o", &path(&tar)]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], format!("{}@{}", registry.reference("app"), manifest_digest(&registry, "app:1")));
    assert_eq!(listing(dir.path()), ["images.tar"], "no temporary file is left");
    assert_eq!(fs::metadata(&tar).expect("stat").permissions().mode() & 0o777, 0o644);

    let docker = Dockerd::start();
    let loaded = docker.load(&tar);
    for (reference, repo, layers) in [(&app, "app:1", 2), (&oci, "oci:1", 1)] {
        assert!(loaded.contains(reference.as_str()), "docker load: {loaded}");
        let inspect = docker.image_inspect(reference);
        assert_eq!(inspect["Id"], config_digest(&registry, repo), "docker's image ID is the config digest");
        assert_eq!(inspect["RepoTags"], serde_json::json!([reference]));
        assert_eq!(inspect["RootFS"]["Layers"].as_array().map(Vec::len), Some(layers));
    }
    assert_eq!(docker.run(&app, &["cat", "/opt/app/hello.txt"]), HELLO);

    let podman = readers::podman_load(&tar);
    for (reference, repo) in [(&app, "app:1"), (&oci, "oci:1")] {
        let id = config_digest(&registry, repo);
        let line = format!("{reference} {id}");
        assert!(podman.contains(&line), "podman lists {line}: {podman:?}");
    }

    let summary = readers::skopeo_inspect_archive(&format!("docker-archive:{}:{app}", path(&tar)));
    assert_eq!(summary["Layers"].as_array().map(Vec::len), Some(2), "{summary}");
    let single = dir.path().join("app.tar");
    run_ok(&args(&["save", &app, "-o", &path(&single), "-q"]));
    let summary = readers::skopeo_inspect_archive(&format!("oci-archive:{}", path(&single)));
    assert_eq!(summary["Layers"].as_array().map(Vec::len), Some(2), "{summary}");
    let summary = readers::skopeo_inspect_archive(&format!("docker-archive:{}", path(&single)));
    assert_eq!(summary["Layers"].as_array().map(Vec::len), Some(2), "{summary}");
}

/// registry → save → load → registry: the same manifest bytes, so the same digests; with
/// `-t` to another registry (and its credentials), and back under the names in the tar.
#[test]
fn save_then_load_keeps_every_digest() {
    let source = Registry::start(RegistryAuth::Anonymous);
    push_single(&source, "docker:1", Format::Docker);
    push_single(&source, "oci:1", Format::Oci);
    let files = AppFiles::new();
    append(&source.reference("docker:1"), &files, &["-t", &source.reference("app:1")]);
    let dir = tempfile::tempdir().expect("temp dir");

    let target = Registry::start(RegistryAuth::htpasswd("loader", "l0ad-Pa55"));
    for repo in ["docker", "oci", "app"] {
        let tar = dir.path().join(format!("{repo}.tar"));
        run_ok(&args(&["save", &source.reference(&format!("{repo}:1")), "-o", &path(&tar)]));
        let copy = target.reference(&format!("copy-{repo}:1"));
        let argv = args(&["load", &path(&tar), "-t", &copy, "--username", "loader", "--password-stdin"]);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let run = layerize(&argv, Some("l0ad-Pa55"), None);
        assert!(!run.stderr.contains("l0ad-Pa55"));
        let digest = pushed_digest(&run.ok(), &target.reference(&format!("copy-{repo}")));
        let original = readers::skopeo_inspect_raw(&source, &format!("{repo}:1"));
        assert_eq!(digest, sha256_digest(&original), "{repo}: the manifest digest survives the round trip");
        assert_eq!(readers::skopeo_inspect_raw(&target, &format!("copy-{repo}:1")), original, "byte for byte");
        let oci = readers::skopeo_copy_to_oci(&target, &format!("copy-{repo}:1"));
        assert_eq!(readers::diff_ids_match(oci.path()), 1);
    }

    // Several images in one tar, loaded under their own names: back where they came from.
    let tar = dir.path().join("all.tar");
    let refs: Vec<String> = ["docker:1", "oci:1", "app:1"].iter().map(|r| source.reference(r)).collect();
    let mut save = args(&["save", "-o", &path(&tar)]);
    save.extend(refs.iter().cloned());
    run_ok(&save);
    let e = run_fails(&args(&["load", &path(&tar), "-t", &target.reference("one:1")]));
    assert!(e.contains("holds 3 images") && e.contains(&path(&tar)), "{e}");
    let out = run_ok(&args(&["load", &path(&tar)]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for (line, r) in lines.iter().zip(["docker:1", "oci:1", "app:1"]) {
        let repo = r.trim_end_matches(":1");
        assert_eq!(*line, format!("{}@{}", source.reference(repo), manifest_digest(&source, r)));
    }
}

/// The layer media types of a manifest in the registry.
fn layer_types(registry: &Registry, reference: &str) -> Vec<String> {
    let manifest = json(&readers::skopeo_inspect_raw(registry, reference));
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter_map(|l| l["mediaType"].as_str().map(str::to_owned))
        .collect()
}

const PLAIN: &str = "application/vnd.docker.image.rootfs.diff.tar";
const GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// A tar from `docker save` (Docker 20's legacy layout: uncompressed `<id>/layer.tar`, the
/// repeated layer a symlink) loads with its layers gzipped on the way (the repeated one
/// gzipped and sent once), also gzipped whole and re-tarred with `./` names; `--no-compress`
/// pushes the layers as stored.
#[test]
fn docker_save_tars_load() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Docker);
    let files = AppFiles::new();
    // The same layer twice: docker save writes the second as a symlink to the first.
    append(&registry.reference("base:1"), &files, &["-t", &registry.reference("once:1")]);
    append(&registry.reference("once:1"), &files, &["-t", &registry.reference("twice:1")]);
    let twice = registry.reference("twice:1");

    let docker = Dockerd::start();
    docker.pull(&twice);
    let dir = tempfile::tempdir().expect("temp dir");
    let tar = dir.path().join("docker.tar");
    docker.save(&[&twice], &tar);
    let listed = tool::run_stdout(Command::new("tar").arg("-tvf").arg(&tar));
    assert!(listed.lines().any(|l| l.starts_with('l') && l.contains("layer.tar ->")), "a symlinked layer:\n{listed}");

    let fromdocker = registry.reference("fromdocker:1");
    let run = layerize(&["load", &path(&tar), "-t", &fromdocker], None, None);
    let progress = run.stderr.clone();
    let digest = pushed_digest(&run.ok(), &registry.reference("fromdocker"));
    let manifest = json(&readers::skopeo_inspect_raw(&registry, "fromdocker:1"));
    assert_eq!(manifest["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
    assert_eq!(layer_types(&registry, "fromdocker:1"), [GZIP; 3], "plain layers go up gzipped");
    assert_eq!(manifest["layers"][1], manifest["layers"][2], "the repeated layer is the same blob");
    assert_eq!(
        progress.matches("uploaded (gzip of").count(),
        2,
        "each distinct layer is gzipped and sent once:\n{progress}"
    );
    assert_eq!(config_digest(&registry, "fromdocker:1"), config_digest(&registry, "twice:1"), "config bytes unchanged");
    let oci = readers::skopeo_copy_to_oci(&registry, "fromdocker:1");
    assert_eq!(readers::diff_ids_match(oci.path()), 1, "each gzip layer inflates to its diffID");
    let rootfs = readers::umoci_unpack(oci.path(), oci.tag());
    assert_eq!(fs::read_to_string(rootfs.path().join("opt/app/hello.txt")).expect("hello"), HELLO);
    readers::podman_pull(&registry, "fromdocker:1");
    docker.pull(&fromdocker);
    assert_eq!(docker.run(&fromdocker, &["cat", "/opt/app/hello.txt"]), HELLO);

    // --no-compress: the layers as stored, so each layer's digest is its diffID.
    let plain = pushed_digest(
        &run_ok(&args(&["load", &path(&tar), "--no-compress", "-t", &registry.reference("plain:1")])),
        &registry.reference("plain"),
    );
    assert_ne!(plain, digest);
    assert_eq!(layer_types(&registry, "plain:1"), [PLAIN; 3], "--no-compress pushes layers as they are stored");
    let manifest = json(&readers::skopeo_inspect_raw(&registry, "plain:1"));
    let config = json(&readers::skopeo_inspect_config(&registry, "plain:1"));
    let digests: Vec<&Value> = manifest["layers"].as_array().expect("layers").iter().map(|l| &l["digest"]).collect();
    let diff_ids: Vec<&Value> = config["rootfs"]["diff_ids"].as_array().expect("diff_ids").iter().collect();
    assert_eq!(digests, diff_ids);
    let oci = readers::skopeo_copy_to_oci(&registry, "plain:1");
    assert_eq!(readers::diff_ids_match(oci.path()), 1);

    // Gzipped whole: the same image, so the same digest.
    let gz = dir.path().join("docker.tar.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&fs::read(&tar).expect("read")).expect("gzip");
    fs::write(&gz, encoder.finish().expect("gzip")).expect("write");
    let again = pushed_digest(
        &run_ok(&args(&["load", &path(&gz), "-t", &registry.reference("fromgz:1")])),
        &registry.reference("fromgz"),
    );
    assert_eq!(again, digest);

    // Re-tarred from a directory: `./` names, manifest.json wherever tar puts it.
    let unpacked = dir.path().join("unpacked");
    fs::create_dir(&unpacked).expect("mkdir");
    tool::run(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&unpacked));
    let dotted = dir.path().join("dotted.tar");
    tool::run(Command::new("tar").arg("-cf").arg(&dotted).arg("-C").arg(&unpacked).arg("."));
    assert!(tool::run_stdout(Command::new("tar").arg("-tf").arg(&dotted)).contains("./manifest.json"));
    let again = pushed_digest(
        &run_ok(&args(&["load", &path(&dotted), "-t", &registry.reference("fromdir:1")])),
        &registry.reference("fromdir"),
    );
    assert_eq!(again, digest);
}

/// Tars from `podman save` (docker-archive and oci-archive) and `skopeo copy … docker-archive:`
/// load and push correctly.
#[test]
fn podman_and_skopeo_tars_load() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Docker);
    let files = AppFiles::new();
    append(&registry.reference("base:1"), &files, &["-t", &registry.reference("app:1")]);
    let app = registry.reference("app:1");
    let dir = tempfile::tempdir().expect("temp dir");

    let podman_docker = dir.path().join("podman-docker.tar");
    readers::podman_save(&registry, "app:1", "docker-archive", &podman_docker);
    let podman_oci = dir.path().join("podman-oci.tar");
    readers::podman_save(&registry, "app:1", "oci-archive", &podman_oci);
    let skopeo = dir.path().join("skopeo.tar");
    tool::run(
        Command::new("skopeo")
            .args(["--insecure-policy", "copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{app}"))
            .arg(format!("docker-archive:{}:{app}", path(&skopeo))),
    );

    for (tar, repo) in [(&podman_docker, "podman-docker"), (&podman_oci, "podman-oci"), (&skopeo, "skopeo")] {
        let target = registry.reference(&format!("{repo}:1"));
        let digest = pushed_digest(&run_ok(&args(&["load", &path(tar), "-t", &target])), &registry.reference(repo));
        assert_eq!(manifest_digest(&registry, &format!("{repo}:1")), digest);
        if repo != "podman-oci" {
            // docker-archive: manifest.json and plain layers only, gzipped on the way.
            assert_eq!(layer_types(&registry, &format!("{repo}:1")), [GZIP; 2], "{repo}");
        }
        let oci = readers::skopeo_copy_to_oci(&registry, &format!("{repo}:1"));
        assert_eq!(readers::diff_ids_match(oci.path()), 1, "{repo}");
        let transport = if repo == "podman-oci" { "oci-archive" } else { "docker-archive" };
        let summary = readers::skopeo_inspect_archive(&format!("{transport}:{}", path(tar)));
        let config = json(&readers::skopeo_inspect_config(&registry, &format!("{repo}:1")));
        assert_eq!(
            config["rootfs"]["diff_ids"].as_array().map(Vec::len),
            summary["Layers"].as_array().map(Vec::len),
            "{repo}"
        );
        let rootfs = readers::umoci_unpack(oci.path(), oci.tag());
        assert_eq!(fs::read_to_string(rootfs.path().join("opt/app/hello.txt")).expect("hello"), HELLO, "{repo}");
    }
}

/// A skopeo `docker-archive` tar with `--no-compress` keeps its plain layers; with one byte of
/// a plain layer changed, the load fails naming the file and member (the diffID check ends
/// the gzip stream before its upload is committed), and no blob or tag is left.
#[test]
fn skopeo_plain_layers_no_compress_and_damage() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Docker);
    let dir = tempfile::tempdir().expect("temp dir");
    let tar = dir.path().join("skopeo.tar");
    let base = registry.reference("base:1");
    tool::run(
        Command::new("skopeo")
            .args(["--insecure-policy", "copy", "--quiet", "--src-tls-verify=false"])
            .arg(format!("docker://{base}"))
            .arg(format!("docker-archive:{}:{base}", path(&tar))),
    );

    let digest = pushed_digest(
        &run_ok(&args(&["load", &path(&tar), "--no-compress", "-t", &registry.reference("plain:1")])),
        &registry.reference("plain"),
    );
    assert_eq!(manifest_digest(&registry, "plain:1"), digest);
    assert_eq!(layer_types(&registry, "plain:1"), [PLAIN]);
    let summary = readers::skopeo_inspect_archive(&format!("docker-archive:{}", path(&tar)));
    let inspected = json(&readers::skopeo_inspect_raw(&registry, "plain:1"));
    assert_eq!(summary["Layers"][0], inspected["layers"][0]["digest"], "the plain layer's digest is the archive's");

    let bytes = fs::read(&tar).expect("read");
    let entries = json(&member_bytes(&bytes, "manifest.json"));
    let layer = entries[0]["Layers"][0].as_str().expect("layer member").to_owned();
    let (offset, size) = member_span(&bytes, &layer);
    let mut damaged = bytes.clone();
    damaged[(offset + size / 2) as usize] ^= 0x55;
    let bad = dir.path().join("damaged.tar");
    fs::write(&bad, &damaged).expect("write");
    let e = run_fails(&args(&["load", &path(&bad), "-t", &registry.reference("bad:1")]));
    assert!(e.contains(&path(&bad)) && e.contains(&layer) && e.contains("digest"), "{e}");
    assert!(!has_tags(&registry, "bad"));
    let committed = registry.storage_dir().join("docker/registry/v2/repositories/bad/_layers/sha256");
    let blobs = fs::read_dir(&committed).map(|d| d.count()).unwrap_or(0);
    assert_eq!(blobs, 0, "no blob was committed to the repository");
}

/// An OCI archive of a whole index (skopeo --all) loads as that index, digest and all; with
/// the other platform's blobs gone (an export of one platform), the platform's image loads.
#[test]
fn oci_archives_with_an_index_load() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let index = push_index(&registry, "multi:1", Format::Oci);
    let dir = tempfile::tempdir().expect("temp dir");
    let tar = dir.path().join("multi.tar");
    tool::run(
        Command::new("skopeo")
            .args(["--insecure-policy", "copy", "--quiet", "--all", "--src-tls-verify=false"])
            .arg(format!("docker://{}", registry.reference("multi:1")))
            .arg(format!("oci-archive:{}:multi", path(&tar))),
    );
    let digest = pushed_digest(
        &run_ok(&args(&["load", &path(&tar), "-t", &registry.reference("copied:1")])),
        &registry.reference("copied"),
    );
    assert_eq!(digest, index.digest, "the index is pushed whole, byte for byte");
    let oci = readers::skopeo_copy_all_to_oci(&registry, "copied:1");
    assert_eq!(readers::diff_ids_match(oci.path()), 2);

    // Drop the arm64 image's manifest: what is left is one platform of the index.
    let arm = &index.platform("linux/arm64/v8").digest;
    let partial = dir.path().join("partial.tar");
    let arm_member = format!("blobs/sha256/{}", arm.trim_start_matches("sha256:"));
    rewrite(&tar, &partial, |name, data| (name != arm_member).then(|| (name.to_owned(), data.to_vec())), &[]);
    let digest = pushed_digest(
        &run_ok(&args(&["load", &path(&partial), "-t", &registry.reference("amd:1")])),
        &registry.reference("amd"),
    );
    assert_eq!(digest, index.platform("linux/amd64").digest);
    let e =
        run_fails(&args(&["load", &path(&partial), "-t", &registry.reference("arm:1"), "--platform", "linux/arm64"]));
    assert!(e.contains("linux/arm64") && e.contains(&path(&partial)), "{e}");
    assert!(!has_tags(&registry, "arm"));
}

/// `append` takes an archive as its base and writes an archive with `-o`; the image is the
/// same whichever way it goes.
#[test]
fn append_reads_and_writes_archives() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Docker);
    let files = AppFiles::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let base_tar = dir.path().join("base.tar");
    run_ok(&args(&["save", &registry.reference("base:1"), "-o", &path(&base_tar)]));

    let from_registry = append(&registry.reference("base:1"), &files, &["-t", &registry.reference("reg:1")]);
    let digest = pushed_digest(&from_registry, &registry.reference("reg"));
    let from_archive =
        append(&format!("docker-archive:{}", path(&base_tar)), &files, &["-t", &registry.reference("arc:1")]);
    assert_eq!(pushed_digest(&from_archive, &registry.reference("arc")), digest, "same base, same files, same image");
    let oci = readers::skopeo_copy_to_oci(&registry, "arc:1");
    assert_eq!(readers::diff_ids_match(oci.path()), 1);

    // Registry base → archive, named inside by -t; docker runs it.
    let out = dir.path().join("app.tar");
    let app = registry.reference("app:9");
    let printed = append(&registry.reference("base:1"), &files, &["-o", &path(&out), "-t", &app]);
    assert_eq!(printed.trim(), format!("{}@{digest}", registry.reference("app")));
    assert!(!has_tags(&registry, "app"), "-o pushes nothing");
    let docker = Dockerd::start();
    docker.load(&out);
    assert_eq!(docker.run(&app, &["cat", "/opt/app/hello.txt"]), HELLO);
    assert_eq!(docker.image_inspect(&app)["Id"], config_digest(&registry, "reg:1"));
    assert!(readers::podman_load(&out).contains(&format!("{app} {}", config_digest(&registry, "reg:1"))));
    let summary = readers::skopeo_inspect_archive(&format!("docker-archive:{}", path(&out)));
    assert_eq!(summary["Layers"].as_array().map(Vec::len), Some(2), "{summary}");

    // Archive base (a plain path) → archive, unnamed → load it under a name.
    let out2 = dir.path().join("app2.tar");
    let printed = append(&path(&base_tar), &files, &["-o", &path(&out2)]);
    assert_eq!(printed.trim(), digest);
    let loaded = run_ok(&args(&["load", &path(&out2), "-t", &registry.reference("app2:1")]));
    assert_eq!(pushed_digest(&loaded, &registry.reference("app2")), digest);
    let e = run_fails(&args(&["load", &path(&out2)]));
    assert!(e.contains("has no name") && e.contains("-t"), "{e}");
}

/// Bad tars: a clear error naming the file and the member, exit 1, nothing pushed; and a
/// failed save leaves no file.
#[test]
fn bad_archives_push_nothing_and_failed_saves_leave_nothing() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Docker);
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.tar");
    run_ok(&args(&["save", &registry.reference("base:1"), "-o", &path(&good), "-q"]));
    let manifest = json(&readers::skopeo_inspect_raw(&registry, "base:1"));
    let layer =
        manifest["layers"][0]["digest"].as_str().expect("layer digest").trim_start_matches("sha256:").to_owned();
    let config = manifest["config"]["digest"].as_str().expect("config digest").trim_start_matches("sha256:").to_owned();
    let layer_member = format!("blobs/sha256/{layer}");
    let config_member = format!("blobs/sha256/{config}");
    let target = registry.reference("bad:1");
    let load = |tar: &Path| {
        let e = run_fails(&args(&["load", &path(tar), "-t", &target]));
        eprintln!("--- {}:\n{e}", path(tar));
        e
    };

    // Cut in the middle of the layer.
    let bytes = fs::read(&good).expect("read");
    let (offset, size) = member_span(&bytes, &layer_member);
    let cut = dir.path().join("cut.tar");
    fs::write(&cut, &bytes[..(offset + size / 2) as usize]).expect("write");
    let e = load(&cut);
    assert!(e.contains(&path(&cut)) && e.contains(&layer_member) && e.contains("cut short"), "{e}");

    // manifest.json names a member that is not there (and index.json is gone, so nothing
    // else can stand in).
    let missing = dir.path().join("missing.tar");
    rewrite(
        &good,
        &missing,
        |name, data| match name {
            "index.json" => None,
            "manifest.json" => {
                Some((name.to_owned(), String::from_utf8_lossy(data).replace(&layer, &"0".repeat(64)).into_bytes()))
            }
            _ => Some((name.to_owned(), data.to_vec())),
        },
        &[],
    );
    let e = load(&missing);
    assert!(
        e.contains(&path(&missing))
            && e.contains(&format!("blobs/sha256/{}", "0".repeat(64)))
            && e.contains("not in the archive"),
        "{e}"
    );

    // A member named with `..`, and manifest.json pointing outside the archive.
    let escape = dir.path().join("escape.tar");
    rewrite(&good, &escape, |name, data| Some((name.to_owned(), data.to_vec())), &[("../evil", b"x")]);
    let e = load(&escape);
    assert!(e.contains(&path(&escape)) && e.contains("../evil") && e.contains("`..`"), "{e}");
    let outside = dir.path().join("outside.tar");
    rewrite(
        &good,
        &outside,
        |name, data| match name {
            "manifest.json" => Some((
                name.to_owned(),
                String::from_utf8_lossy(data)
                    .replace(&format!("\"{layer_member}\""), "\"../../etc/passwd\"")
                    .into_bytes(),
            )),
            _ => Some((name.to_owned(), data.to_vec())),
        },
        &[],
    );
    let e = load(&outside);
    assert!(e.contains(&path(&outside)) && e.contains("manifest.json") && e.contains("../../etc/passwd"), "{e}");

    // A layer whose bytes do not match its digest, and a config likewise.
    for (member, file) in [(&layer_member, "flipped-layer.tar"), (&config_member, "flipped-config.tar")] {
        let mut bytes = fs::read(&good).expect("read");
        let (offset, size) = member_span(&bytes, member);
        bytes[(offset + size / 2) as usize] ^= 0x55;
        let flipped = dir.path().join(file);
        fs::write(&flipped, &bytes).expect("write");
        let e = load(&flipped);
        assert!(
            e.contains(&path(&flipped)) && e.contains(member.as_str()) && (e.contains("digest") || e.contains("gzip")),
            "{e}"
        );
    }

    // Not a tar at all.
    let text = dir.path().join("notes.txt");
    fs::write(&text, "just some text, not a tar\n".repeat(100)).expect("write");
    let e = load(&text);
    assert!(e.contains(&path(&text)) && e.contains("tar"), "{e}");
    assert!(!has_tags(&registry, "bad"), "nothing may be pushed from a bad archive");

    // A save that fails part way (the second image does not exist; then a damaged blob in
    // the registry) leaves no file behind.
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().join("out.tar");
    let e =
        run_fails(&args(&["save", &registry.reference("base:1"), &registry.reference("nope:1"), "-o", &path(&out)]));
    assert!(e.contains("nope") && e.contains(&path(&out)), "{e}");
    let data = registry.storage_dir().join(format!("docker/registry/v2/blobs/sha256/{}/{layer}/data", &layer[..2]));
    let mut blob = fs::read(&data).expect("registry blob");
    let middle = blob.len() / 2;
    blob[middle] ^= 0x55;
    fs::write(&data, &blob).expect("damage the registry's blob");
    let e = run_fails(&args(&["save", &registry.reference("base:1"), "-o", &path(&out)]));
    assert!(e.contains(&layer) && e.contains("digest"), "{e}");
    assert!(listing(out_dir.path()).is_empty(), "a failed save leaves nothing: {:?}", listing(out_dir.path()));
}

/// The bytes of a member of a tar.
fn member_bytes(tar: &[u8], member: &str) -> Vec<u8> {
    let (offset, size) = member_span(tar, member);
    tar[offset as usize..(offset + size) as usize].to_vec()
}

/// Where a member's bytes are in a tar: (offset, size).
fn member_span(tar: &[u8], member: &str) -> (u64, u64) {
    let mut archive = tar::Archive::new(Cursor::new(tar));
    for entry in archive.entries().expect("entries") {
        let entry = entry.expect("entry");
        if entry.path().expect("path").to_string_lossy().trim_start_matches("./") == member {
            return (entry.raw_file_position(), entry.size());
        }
    }
    panic!("no member {member}");
}

/// Copies the tar at `from` to `to` through `keep` (rename, replace or drop each regular
/// file; other members are copied as they are), then appends `extra` files, written with
/// their names as given (even `..` ones).
fn rewrite(
    from: &Path,
    to: &PathBuf,
    keep: impl Fn(&str, &[u8]) -> Option<(String, Vec<u8>)>,
    extra: &[(&str, &[u8])],
) {
    let bytes = fs::read(from).expect("read");
    let mut archive = tar::Archive::new(Cursor::new(bytes));
    let mut out = tar::Builder::new(Vec::new());
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let name = entry.path().expect("path").to_string_lossy().trim_start_matches("./").to_owned();
        let mut header = entry.header().clone();
        if !header.entry_type().is_file() {
            out.append(&header, std::io::empty()).expect("append");
            continue;
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read member");
        if let Some((name, data)) = keep(&name, &data) {
            header.set_size(data.len() as u64);
            out.append_data(&mut header, name, &data[..]).expect("append");
        }
    }
    for (name, data) in extra {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
        out.append(&header, *data).expect("append");
    }
    fs::write(to, out.into_inner().expect("finish")).expect("write");
}
