//! `layerize copy` between registries (anonymous → token auth), OCI layouts, docker archives
//! and the store, judged by skopeo: manifest and index bytes are the same on both sides; and
//! `append --store` keeping its result in the store.

use std::fs;
use std::path::Path;

use layerize_tests::{push_index, push_single, readers, Format, Registry, RegistryAuth};

use crate::cli::{layerize, pushed_digest, Run};

fn copy(from: &str, to: &str, target: Option<&Registry>, extra: &[&str]) -> Run {
    let mut args = vec!["copy", from, to, "-q"];
    args.extend(extra);
    let creds = target.and_then(Registry::credentials);
    if let Some((user, _)) = &creds {
        args.extend(["--username", user, "--password-stdin"]);
    }
    layerize(&args, creds.as_ref().map(|(_, p)| p.as_str()), None)
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// Registry to registry (anonymous to token auth): a single image and a two-platform index
/// with `--all-platforms` keep their bytes; then into an OCI layout and a docker archive and
/// back to a registry, still the same bytes.
#[test]
fn copy_keeps_every_digest_between_registries_layouts_and_archives() {
    let source = Registry::start(RegistryAuth::Anonymous);
    let single = push_single(&source, "single:1", Format::Docker);
    let index = push_index(&source, "multi:1", Format::Oci);
    let target = Registry::start(RegistryAuth::token("carol", "c0py-pw"));

    let to = target.reference("single:1");
    let out = copy(&source.reference("single:1"), &to, Some(&target), &[]).ok();
    assert_eq!(pushed_digest(&out, &to), single.digest);
    assert_eq!(readers::skopeo_inspect_raw(&target, "single:1"), readers::skopeo_inspect_raw(&source, "single:1"));

    let to = target.reference("multi:1");
    let out = copy(&source.reference("multi:1"), &to, Some(&target), &["--all-platforms"]).ok();
    assert_eq!(pushed_digest(&out, &to), index.digest);
    assert_eq!(readers::skopeo_inspect_raw(&target, "multi:1"), readers::skopeo_inspect_raw(&source, "multi:1"));

    // Into an OCI layout and back.
    let work = tempfile::tempdir().expect("tempdir");
    let layout = format!("oci:{}:multi", path(&work.path().join("layout")));
    let out = copy(&source.reference("multi:1"), &layout, None, &["--all-platforms"]).ok();
    assert_eq!(pushed_digest(&out, &layout), index.digest);
    assert_eq!(readers::diff_ids_match(&work.path().join("layout")), 2);
    let back = source.reference("back-oci:1");
    let out = copy(&layout, &back, None, &["--all-platforms"]).ok();
    assert_eq!(pushed_digest(&out, &back), index.digest);

    // Into a docker archive and back (one image: an archive holds single images).
    let archive = work.path().join("single.tar");
    let dest = format!("docker-archive:{}", path(&archive));
    let out = copy(&source.reference("single:1"), &dest, None, &[]).ok();
    assert_eq!(pushed_digest(&out, &path(&archive)), single.digest);
    // skopeo reads it (it digests a manifest of its own making, so only the layers compare).
    let inspected = readers::skopeo_inspect_archive(&dest);
    assert_eq!(inspected["Layers"].as_array().map(Vec::len), Some(1), "{inspected}");
    let listed =
        std::process::Command::new("tar").arg("-xOf").arg(&archive).arg("manifest.json").output().expect("tar");
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains(&format!("\"{}\"", source.reference("single:1"))), "not named in manifest.json: {listed}");
    let back = source.reference("back-archive:1");
    let out = copy(&dest, &back, None, &[]).ok();
    assert_eq!(pushed_digest(&out, &back), single.digest);

    // An archive that exists is replaced only with --force.
    let err = copy(&source.reference("single:1"), &dest, None, &[]).fails();
    assert!(err.contains(&path(&archive)) && err.contains("--force"), "{err}");
    copy(&source.reference("single:1"), &dest, None, &["--force"]).ok();

    // An index cannot go into an archive; unknown transports are named.
    let err = copy(
        &source.reference("multi:1"),
        &format!("docker-archive:{}", path(&work.path().join("m.tar"))),
        None,
        &["--all-platforms"],
    )
    .fails();
    assert!(err.contains("single images"), "{err}");
    assert!(!work.path().join("m.tar").exists(), "a refused copy left an archive");
    let err = copy("docker://alpine", &back, None, &[]).fails();
    assert!(err.contains("docker://alpine") && err.contains("not supported"), "{err}");
}

/// `append --store -t app:dev` keeps the result in the store instead of pushing it, and the
/// stored image is then a base, a source to push and a tree to unpack.
#[test]
fn append_with_store_keeps_the_result_in_the_store() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Oci);
    let work = tempfile::tempdir().expect("tempdir");
    let store = path(&work.path().join("store"));
    fs::write(work.path().join("hello.txt"), b"hello from the store\n").expect("write");
    let file = format!("{}:/hello.txt", path(&work.path().join("hello.txt")));
    let out = layerize(
        &["append", &registry.reference("base:1"), "-f", &file, "-t", "app:dev", "--store", &store, "-q"],
        None,
        None,
    )
    .ok();
    let digest = pushed_digest(&out, "docker.io/library/app:dev");
    // The stored name is a base too, and pushes as it is.
    let out = layerize(&["append", "app:dev", "-f", &file, "-t", "app:two", "--store", &store, "-q"], None, None).ok();
    pushed_digest(&out, "docker.io/library/app:two");
    let target = registry.reference("app:1");
    let out = layerize(&["push", "app:dev", &target, "--store", &store, "-q"], None, None).ok();
    assert_eq!(pushed_digest(&out, &target), digest);
    let rootfs = work.path().join("rootfs");
    layerize(&["unpack", "app:dev", &path(&rootfs), "--store", &store, "-q"], None, None).ok();
    assert_eq!(fs::read(rootfs.join("hello.txt")).expect("hello"), b"hello from the store\n");
    assert!(rootfs.join("bin/busybox").is_file());
}
