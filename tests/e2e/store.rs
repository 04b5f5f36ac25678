//! The local store: `pull` from the real registry (anonymous, htpasswd, token) keeps the
//! registry's bytes, skopeo and umoci read the store, `push` to another registry keeps every
//! digest, `rmi` + `gc` keep exactly what the remaining images use, two pulls at once and a
//! `kill -9` in the middle of one leave a store whose every blob matches its name.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use layerize_tests::oci_layout::sha256_digest;
use layerize_tests::{push_index, push_single, readers, tool, Format, Registry, RegistryAuth};
use serde_json::Value;

use crate::cli::{layerize, pushed_digest, Run};

/// `layerize ARGS --store STORE`, with the registry's credentials if it wants them.
fn with_store(store: &Path, registry: Option<&Registry>, args: &[&str]) -> Run {
    let mut argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    argv.extend(["--store".to_owned(), store.display().to_string()]);
    let mut stdin = None;
    if let Some((user, password)) = registry.and_then(Registry::credentials) {
        argv.extend(["--username".to_owned(), user, "--password-stdin".to_owned()]);
        stdin = Some(password);
    }
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    layerize(&argv, stdin.as_deref(), None)
}

/// `skopeo inspect --raw` of an image in an OCI layout.
fn skopeo_raw_oci(dir: &Path, name: &str) -> Vec<u8> {
    let mut command = Command::new("skopeo");
    command.args(["--insecure-policy", "inspect", "--raw"]).arg(format!("oci:{}:{name}", dir.display()));
    tool::run(&mut command).stdout
}

/// Every blob the layout's `index.json` reaches (manifests, indexes, configs, layers), walked
/// here independently of layerize.
fn reachable(store: &Path) -> BTreeSet<String> {
    let index: Value = serde_json::from_slice(&fs::read(store.join("index.json")).expect("index.json")).expect("json");
    let mut todo: Vec<String> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| m["digest"].as_str().expect("d").to_owned())
        .collect();
    let mut seen = BTreeSet::new();
    while let Some(digest) = todo.pop() {
        if !seen.insert(digest.clone()) {
            continue;
        }
        let doc: Value = serde_json::from_slice(&fs::read(blob(store, &digest)).expect("manifest blob")).expect("json");
        if let Some(list) = doc["manifests"].as_array() {
            todo.extend(list.iter().map(|m| m["digest"].as_str().expect("d").to_owned()));
        } else {
            seen.insert(doc["config"]["digest"].as_str().expect("config").to_owned());
            for layer in doc["layers"].as_array().expect("layers") {
                seen.insert(layer["digest"].as_str().expect("d").to_owned());
            }
        }
    }
    seen
}

fn blob(store: &Path, digest: &str) -> std::path::PathBuf {
    store.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// Every blob file in the store, each checked: its bytes hash to its name.
fn blob_files_match_names(store: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(store.join("blobs/sha256")).expect("blobs") {
        let path = entry.expect("entry").path();
        let name = format!("sha256:{}", path.file_name().expect("name").to_string_lossy());
        assert_eq!(sha256_digest(&fs::read(&path).expect("blob")), name, "{} does not match its name", path.display());
        names.insert(name);
    }
    names
}

/// Pulls from each kind of registry keep the served bytes; skopeo and umoci read the store;
/// a second pull fetches no blob; push to an empty registry keeps every digest, the index's
/// too with `--all-platforms`.
#[test]
fn pull_then_push_keeps_every_digest() {
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = store_dir.path().join("store");
    let target = Registry::start(RegistryAuth::Anonymous);
    for (n, auth) in
        [RegistryAuth::Anonymous, RegistryAuth::htpasswd("alice", "s3cret-pw"), RegistryAuth::token("bob", "t0ken-pw")]
            .into_iter()
            .enumerate()
    {
        let registry = Registry::start(auth.clone());
        let single = push_single(&registry, "single:1", Format::Oci);
        let index = push_index(&registry, "multi:1", Format::Oci);
        // skopeo's oci: transport cannot read Docker media types from index.json, so a Docker
        // image is judged on the registries alone.
        let docker = push_single(&registry, "docker:1", Format::Docker);
        let docker_name = registry.reference("docker:1");
        let out = with_store(&store, Some(&registry), &["pull", &docker_name]).ok();
        assert_eq!(pushed_digest(&out, &docker_name), docker.digest);
        let copy = format!("{}/docker{n}:1", target.host());
        let out = with_store(&store, None, &["push", &docker_name, &copy]).ok();
        assert_eq!(pushed_digest(&out, &copy), docker.digest);
        assert_eq!(
            readers::skopeo_inspect_raw(&target, &format!("docker{n}:1")),
            readers::skopeo_inspect_raw(&registry, "docker:1")
        );

        let name = registry.reference("single:1");
        let out = with_store(&store, Some(&registry), &["pull", &name]).ok();
        assert_eq!(pushed_digest(&out, &name), single.digest, "{auth:?}");
        assert_eq!(skopeo_raw_oci(&store, &name), readers::skopeo_inspect_raw(&registry, "single:1"));

        let multi = registry.reference("multi:1");
        let out = with_store(&store, Some(&registry), &["pull", &multi, "--all-platforms"]).ok();
        assert_eq!(pushed_digest(&out, &multi), index.digest, "{auth:?}");
        assert_eq!(skopeo_raw_oci(&store, &multi), readers::skopeo_inspect_raw(&registry, "multi:1"));

        // Again: nothing but manifests crosses.
        let before = registry.log().matches("/blobs/sha256:").count();
        let again = with_store(&store, Some(&registry), &["pull", &multi, "--all-platforms"]);
        assert!(!again.stderr.contains(": copied"), "{}", again.stderr);
        again.ok();
        assert_eq!(registry.log().matches("/blobs/sha256:").count(), before, "a second pull fetched blobs");

        // Push to an empty registry: the same bytes there.
        let copy = format!("{}/copy{n}:1", target.host());
        let out = with_store(&store, None, &["push", &name, &copy]).ok();
        assert_eq!(pushed_digest(&out, &copy), single.digest);
        assert_eq!(
            readers::skopeo_inspect_raw(&target, &format!("copy{n}:1")),
            readers::skopeo_inspect_raw(&registry, "single:1")
        );
        let copy = format!("{}/multicopy{n}:1", target.host());
        let out = with_store(&store, None, &["push", &multi, &copy]).ok();
        assert_eq!(pushed_digest(&out, &copy), index.digest);
    }

    // umoci reads the store and lists every name.
    let listed = tool::run_stdout(Command::new("umoci").args(["ls", "--layout"]).arg(&store));
    assert_eq!(listed.lines().count(), 9, "{listed}");
    assert_eq!(readers::diff_ids_match(&store), 12, "two single images and two platforms of the index, three times");

    // images lists what is there.
    let json: Value = serde_json::from_str(&with_store(&store, None, &["images", "--json"]).ok()).expect("json");
    assert_eq!(json.as_array().expect("rows").len(), 9);
    assert!(json[0]["size"].as_u64().expect("size") > 100_000);
}

/// `tag`, `rmi` and `gc`: gc after rmi leaves exactly the blobs the remaining images use, and
/// prints the bytes it freed; unknown names fail without removing anything.
#[test]
fn rmi_then_gc_keeps_exactly_what_remaining_images_use() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "single:1", Format::Oci);
    push_index(&registry, "multi:1", Format::Docker);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let single = registry.reference("single:1");
    let multi = registry.reference("multi:1");
    with_store(&store, None, &["pull", &single]).ok();
    with_store(&store, None, &["pull", &multi, "--all-platforms"]).ok();
    let out = with_store(&store, None, &["tag", &single, "mine:dev"]).ok();
    assert!(out.starts_with("docker.io/library/mine:dev@sha256:"), "{out}");

    let err = with_store(&store, None, &["rmi", &multi, "nosuch:1"]).fails();
    assert!(err.contains("nosuch:1") && err.contains("nothing removed"), "{err}");
    assert_eq!(reachable(&store), blob_files_match_names(&store), "nothing to collect yet");

    with_store(&store, None, &["rmi", &multi, &single]).ok();
    let before: u64 =
        fs::read_dir(store.join("blobs/sha256")).expect("d").map(|e| e.expect("e").metadata().expect("m").len()).sum();
    let freed: u64 = with_store(&store, None, &["gc"]).ok().trim().parse().expect("bytes freed");
    let after: u64 =
        fs::read_dir(store.join("blobs/sha256")).expect("d").map(|e| e.expect("e").metadata().expect("m").len()).sum();
    assert!(freed > 0);
    assert_eq!(before - after, freed);
    assert_eq!(reachable(&store), blob_files_match_names(&store), "gc kept more or less than mine:dev uses");
    // The image still named is whole.
    assert_eq!(readers::diff_ids_match(&store), 1);
    let err = with_store(&store, None, &["push", "nosuch:1", &format!("{}/x:1", registry.host())]).fails();
    assert!(err.contains("nosuch:1"), "{err}");
}

/// Two pulls of different images into one store at once both land; a `kill -9` during a pull
/// leaves no blob whose name does not match its bytes, and the rerun completes.
#[test]
fn concurrent_pulls_and_a_killed_pull_leave_a_sound_store() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "single:1", Format::Docker);
    push_index(&registry, "multi:1", Format::Oci);
    // A big one-layer image, made by layerize itself: random bytes do not compress.
    let work = tempfile::tempdir().expect("tempdir");
    let big = work.path().join("big.bin");
    layerize_tests::write_random_file(&big, 96 << 20, 0x9e37_79b9_7f4a_7c15);
    let big_ref = registry.reference("big:1");
    layerize(&["append", "scratch", "-f", &format!("{}:/big.bin", big.display()), "-t", &big_ref, "-q"], None, None)
        .ok();

    let store = work.path().join("store");
    let spawn = |name: &str, extra: &[&str]| {
        Command::new(layerize_tests::layerize())
            .args(["pull", name, "--store"])
            .arg(&store)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pull")
    };
    let a = spawn(&registry.reference("single:1"), &[]);
    let b = spawn(&registry.reference("multi:1"), &["--all-platforms"]);
    for child in [a, b] {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let index = fs::read_to_string(store.join("index.json")).expect("index");
    assert!(index.contains("single:1") && index.contains("multi:1"), "{index}");

    // Kill a pull of the big image once its layer is partly written.
    let mut child = spawn(&big_ref, &[]);
    // Blobs being downloaded live in .layerize/partial (continued by the next run).
    let tmp = store.join(".layerize/partial");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let partial = fs::read_dir(&tmp)
            .map(|d| d.filter_map(Result::ok).any(|e| e.metadata().is_ok_and(|m| m.len() > (8 << 20))))
            .unwrap_or(false);
        if partial {
            break;
        }
        assert!(Instant::now() < deadline, "the pull never got going");
        assert!(child.try_wait().expect("try_wait").is_none(), "the pull ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    blob_files_match_names(&store);
    assert!(!fs::read_to_string(store.join("index.json")).expect("index").contains("big:1"));

    let out = with_store(&store, None, &["pull", &big_ref]).ok();
    assert!(out.starts_with(&format!("{big_ref}@sha256:")), "{out}");
    blob_files_match_names(&store);
    assert_eq!(readers::diff_ids_match(&store), 4, "single, two platforms of multi, big");
}

/// Bad input: a store that is not an OCI layout, a full disk, an unknown name: a clear error
/// naming it, nothing half-written.
#[test]
fn bad_stores_and_names_are_refused_clearly() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "single:1", Format::Docker);
    let name = registry.reference("single:1");
    let dir = tempfile::tempdir().expect("tempdir");

    let not_layout = dir.path().join("notes");
    fs::create_dir(&not_layout).expect("mkdir");
    fs::write(not_layout.join("todo.txt"), b"x").expect("write");
    let err = with_store(&not_layout, None, &["pull", &name]).fails();
    assert!(err.contains(&not_layout.display().to_string()) && err.contains("not an OCI layout"), "{err}");
    assert_eq!(fs::read_dir(&not_layout).expect("d").count(), 1, "wrote into a directory that is not a layout");

    let err = with_store(&dir.path().join("absent"), None, &["rmi", "nosuch:1"]).fails();
    assert!(err.contains("nosuch:1"), "{err}");

    // A full disk: a 256 KiB tmpfs cannot hold the busybox layer.
    let small = dir.path().join("small");
    fs::create_dir(&small).expect("mkdir");
    tool::run(Command::new("mount").args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"]).arg(&small));
    let err = with_store(&small.join("store"), None, &["pull", &name]).fails();
    let listing = fs::read_dir(small.join("store/blobs/sha256")).map(|d| d.count()).unwrap_or(0);
    let index = fs::read_to_string(small.join("store/index.json")).unwrap_or_default();
    tool::run(Command::new("umount").arg(&small));
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(listing, 0, "a blob landed on a full disk");
    assert!(!index.contains("single:1"), "{index}");
}
