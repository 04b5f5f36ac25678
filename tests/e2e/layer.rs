//! `layerize layer`: offline, deterministic, and the same wherever and however files were made.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use crate::cli::layerize;

/// A small tree written in a given order, with given mtimes and a group-writable umask, so
/// that only content, names and the executable bit are the same between two copies.
fn make_tree(root: &Path, reverse: bool, mtime_offset: i64) {
    let mut files: Vec<(&str, Vec<u8>, bool)> = vec![
        ("a.txt", b"layerize\n".to_vec(), false),
        ("bin/tool", (0..100_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect(), true),
        ("share/doc/README", b"docs\n".to_vec(), false),
        ("share/doc/deep/er/file", b"deep\n".to_vec(), false),
    ];
    if reverse {
        files.reverse();
    }
    fs::create_dir_all(root.join("empty")).expect("mkdir");
    for (name, data, exec) in &files {
        let path = root.join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, data).expect("write");
        let mode = match (exec, reverse) {
            (true, false) => 0o755,
            (true, true) => 0o775,
            (false, false) => 0o644,
            (false, true) => 0o664,
        };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        let t = filetime(1_600_000_000 + mtime_offset);
        fs::File::options().write(true).open(&path).expect("open").set_modified(t).expect("mtime");
    }
    std::os::unix::fs::symlink("a.txt", root.join("link")).expect("symlink");
}

fn filetime(secs: i64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64)
}

fn build(tree: &Path, out: &Path) -> Value {
    build_with(tree, out, &[])
}

fn build_with(tree: &Path, out: &Path, extra: &[&str]) -> Value {
    let src = format!("{}:/srv", tree.display());
    let out_s = out.display().to_string();
    let mut args = vec!["layer", "-f", &src, "--delete", "/etc/motd", "-o", &out_s, "--json"];
    args.extend_from_slice(extra);
    let stdout = layerize(&args, None, None).ok();
    serde_json::from_str(&stdout).expect("--json prints JSON")
}

/// The digests of the tree above under pinned gzip profile 1, the only one before profile 2:
/// `--gzip-profile 1` must reproduce them. A change here changes every layer digest users
/// have built with it: never update these.
const GOLDEN_DIFF_ID: &str = "sha256:9d6e1717ed172eb54f5b20245be49c263c743a97e0ffbb2dbb3e2f61c1fb0579";
const GOLDEN_DIGEST: &str = "sha256:2b2ebcbc296af697417757a6389836f0dabb4ffc1938781aef241190e9d37fa5";
/// The same tree under profile 2, the default: nothing in it is noise (`bin/tool` has evenly
/// spread bytes but shrinks), so no block is stored and the blob is profile 1's. The core's
/// golden tests (crates/core/tests/golden.rs) pin profile 2's stored blocks.
const GOLDEN_DIGEST_PROFILE_2: &str = "sha256:2b2ebcbc296af697417757a6389836f0dabb4ffc1938781aef241190e9d37fa5";

#[test]
fn same_files_give_the_same_digests_anywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    make_tree(&one, false, 0);
    make_tree(&two, true, 12_345);
    let a = build(&one, &dir.path().join("a.tar.gz"));
    let again = build(&one, &dir.path().join("a2.tar.gz"));
    let b = build(&two, &dir.path().join("b.tar.gz"));
    assert_eq!(a, again, "same input twice");
    assert_eq!(a, b, "another order of creation, other mtimes and umask");
    assert_eq!(fs::read(dir.path().join("a.tar.gz")).expect("a"), fs::read(dir.path().join("b.tar.gz")).expect("b"));
    assert_eq!(a["diff_id"], GOLDEN_DIFF_ID);
    assert_eq!(a["digest"], GOLDEN_DIGEST_PROFILE_2);
    let v2 = build_with(&two, &dir.path().join("v2.tar.gz"), &["--gzip-profile", "2"]);
    assert_eq!(v2, a, "profile 2 is the default");
    let v1 = build_with(&two, &dir.path().join("v1.tar.gz"), &["--gzip-profile", "1"]);
    assert_eq!(v1["diff_id"], GOLDEN_DIFF_ID);
    assert_eq!(v1["digest"], GOLDEN_DIGEST, "profile 1 reproduces the digests of earlier versions");
}

#[test]
fn an_unknown_gzip_profile_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("x.tar.gz").display().to_string();
    let run = layerize(&["layer", "--gzip-profile", "3", "-o", &out], None, None);
    assert!(!run.status.success(), "profile 3 was accepted");
    assert!(run.stderr.contains("not a gzip profile: 1"), "{}", run.stderr);
}

#[test]
fn output_is_a_gzip_tar_with_the_reported_digests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = dir.path().join("tree");
    make_tree(&tree, false, 0);
    let out = dir.path().join("layer.tar.gz");
    let d = build(&tree, &out);
    let blob = fs::read(&out).expect("output");
    assert_eq!(d["digest"], layerize_tests::oci_layout::sha256_digest(&blob));
    assert_eq!(d["size"], blob.len());
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut tar).expect("gunzip");
    assert_eq!(d["diff_id"], layerize_tests::oci_layout::sha256_digest(&tar));
    // GNU tar, an independent reader, lists it.
    fs::write(dir.path().join("layer.tar"), &tar).expect("write");
    let listing =
        std::process::Command::new("tar").arg("-tvf").arg(dir.path().join("layer.tar")).output().expect("tar");
    let listing = String::from_utf8_lossy(&listing.stdout);
    for want in [
        "drwxr-xr-x 0/0",
        "srv/bin/tool",
        "-rwxr-xr-x 0/0",
        "srv/link -> a.txt",
        "etc/.wh.motd",
        "srv/empty/",
        "1970-01-01",
    ] {
        assert!(listing.contains(want), "{want:?} missing from\n{listing}");
    }
    let text = layerize(
        &[
            "layer",
            "-f",
            &format!("{}:/srv", tree.display()),
            "--delete",
            "/etc/motd",
            "-o",
            &out.display().to_string(),
        ],
        None,
        None,
    )
    .ok();
    assert_eq!(
        text,
        format!(
            "diffID: {}\ndigest: {}\nsize:   {}\n",
            d["diff_id"].as_str().unwrap_or_default(),
            d["digest"].as_str().unwrap_or_default(),
            d["size"]
        )
    );
}
