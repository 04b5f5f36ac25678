//! Progress on stderr for the commands that move images, against the real registry: JSON
//! events whose byte counts add up to the blob sizes, plain lines when stderr is not a
//! terminal, bars under a pseudo-terminal (`script`), nothing with `-q`; stdout keeps the
//! result only.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use layerize_tests::{readers, tool, Registry, RegistryAuth};
use serde_json::Value;

use crate::cli::{layerize, pushed_digest, Run};

/// Bytes that do not compress, so the layer is about as big as the file.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A registry holding `progress:1`, one layer of about 4 MiB; with the digest and size of each
/// of its blobs (config and layer), read by skopeo.
struct Fixture {
    _registry: Registry,
    reference: String,
    blobs: BTreeMap<String, u64>,
    _files: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let registry = Registry::start(RegistryAuth::Anonymous);
        let files = tempfile::tempdir().expect("temp dir");
        let big = files.path().join("big.bin");
        fs::write(&big, noise(4 << 20)).expect("write the big file");
        let reference = registry.reference("progress:1");
        let source = format!("{}:/big.bin", big.display());
        let stdout = layerize(&["append", "scratch", "-f", &source, "-t", &reference, "-q"], None, None).ok();
        pushed_digest(&stdout, &registry.reference("progress"));
        let manifest: Value =
            serde_json::from_slice(&readers::skopeo_inspect_raw(&registry, &reference)).expect("json");
        let mut blobs = BTreeMap::new();
        for blob in manifest["layers"].as_array().expect("layers").iter().chain([&manifest["config"]]) {
            blobs.insert(blob["digest"].as_str().expect("digest").to_owned(), blob["size"].as_u64().expect("size"));
        }
        assert!(blobs.values().any(|&size| size > 4 << 20), "the layer is not big: {blobs:?}");
        Fixture { _registry: registry, reference, blobs, _files: files }
    }
}

/// `--progress json` events, each line parsed (a line that is not a JSON object fails).
fn parse_events(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
            assert!(event["event"].is_string(), "no event name: {line}");
            event
        })
        .collect()
}

/// Checks the blob events of one copy against the image's blobs: every blob is done with its
/// size; every one that moved started with its size as total, and its last progress is its
/// size, never more. Returns the outcome of each blob.
fn check_blob_events(events: &[Value], blobs: &BTreeMap<String, u64>) -> BTreeMap<String, String> {
    let mut outcomes = BTreeMap::new();
    let mut last_done: BTreeMap<String, u64> = BTreeMap::new();
    let mut started: BTreeMap<String, u64> = BTreeMap::new();
    for event in events {
        let digest = event["digest"].as_str().map(str::to_owned);
        match event["event"].as_str().expect("event") {
            "blob_start" => {
                started.insert(digest.expect("digest"), event["total"].as_u64().expect("total"));
            }
            "blob_progress" => {
                let digest = digest.expect("digest");
                let (done, total) = (event["done"].as_u64().expect("done"), event["total"].as_u64().expect("total"));
                assert!(started.contains_key(&digest), "progress before start: {event}");
                assert!(done <= total, "more done than the total: {event}");
                last_done.insert(digest, done);
            }
            "blob_done" => {
                let digest = digest.expect("digest");
                assert_eq!(event["size"].as_u64(), blobs.get(&digest).copied(), "{event}");
                outcomes.insert(digest, event["outcome"].as_str().expect("outcome").to_owned());
            }
            "manifest" | "message" | "retry" => {}
            other => panic!("unknown event {other}: {event}"),
        }
    }
    assert_eq!(outcomes.keys().collect::<Vec<_>>(), blobs.keys().collect::<Vec<_>>(), "blob_done of every blob");
    for (digest, outcome) in &outcomes {
        if outcome == "copied" {
            assert_eq!(started.get(digest), blobs.get(digest), "blob_start of {digest}");
            assert_eq!(last_done.get(digest), blobs.get(digest), "last blob_progress of {digest}");
        } else {
            assert!(!started.contains_key(digest), "{digest} was {outcome}, yet started");
        }
    }
    outcomes
}

fn manifests(events: &[Value]) -> Vec<(String, Option<String>)> {
    events
        .iter()
        .filter(|e| e["event"] == "manifest")
        .map(|e| (e["digest"].as_str().expect("digest").to_owned(), e["tag"].as_str().map(str::to_owned)))
        .collect()
}

#[test]
fn json_events_add_up_to_the_blob_sizes_downloading_and_uploading() {
    let fixture = Fixture::new();
    let store = tempfile::tempdir().expect("store");
    let store_arg = store.path().display().to_string();

    // Download: registry into the store.
    let run = layerize(&["pull", &fixture.reference, "--store", &store_arg, "--progress", "json"], None, None);
    let stderr = run.stderr.clone();
    let stdout = run.ok();
    let pulled = stdout.trim().rsplit_once('@').expect("pinned").1.to_owned();
    let events = parse_events(&stderr);
    let outcomes = check_blob_events(&events, &fixture.blobs);
    assert!(outcomes.values().all(|o| o == "copied"), "{outcomes:?}");
    let large = fixture.blobs.iter().find(|(_, &size)| size > 4 << 20).expect("layer").0;
    let steps = events.iter().filter(|e| e["event"] == "blob_progress" && e["digest"] == large.as_str()).count();
    assert!((2..=64).contains(&steps), "{steps} blob_progress events for a 4 MiB blob: not thinned out, or none");
    assert_eq!(manifests(&events), vec![(pulled.clone(), Some(fixture.reference.clone()))]);

    // Upload: the store into another registry.
    let other = Registry::start(RegistryAuth::Anonymous);
    let target = other.reference("pushed:1");
    let run = layerize(&["push", &fixture.reference, &target, "--store", &store_arg, "--progress", "json"], None, None);
    let stderr = run.stderr.clone();
    assert_eq!(pushed_digest(&run.ok(), &target), pulled);
    let events = parse_events(&stderr);
    let outcomes = check_blob_events(&events, &fixture.blobs);
    assert!(outcomes.values().all(|o| o == "copied"), "{outcomes:?}");
    assert_eq!(manifests(&events), vec![(pulled.clone(), Some("1".to_owned()))]);

    // Again, registry to registry: nothing moves, and nothing starts.
    let run = layerize(&["copy", &fixture.reference, &target, "--progress", "json"], None, None);
    let stderr = run.stderr.clone();
    run.ok();
    let outcomes = check_blob_events(&parse_events(&stderr), &fixture.blobs);
    assert!(outcomes.values().all(|o| o == "already_there"), "{outcomes:?}");
}

#[test]
fn plain_lines_when_stderr_is_not_a_terminal_and_nothing_with_quiet() {
    let fixture = Fixture::new();
    let out = tempfile::tempdir().expect("out");
    let layout = format!("oci:{}:app", out.path().join("plain").display());
    // The default (auto) with stderr a pipe.
    let run = layerize(&["copy", &fixture.reference, &layout], None, None);
    let stderr = run.stderr.clone();
    let stdout = run.ok();
    assert_eq!(stdout.lines().count(), 1, "stdout is the result only: {stdout:?}");
    assert!(!stderr.contains('\x1b'), "escape codes in plain output:\n{stderr}");
    for (digest, size) in &fixture.blobs {
        for line in [format!("blob {digest}: started ({size} bytes)"), format!("blob {digest}: copied ({size} bytes)")]
        {
            assert!(stderr.lines().any(|l| l == line), "no line {line:?} in:\n{stderr}");
        }
    }
    assert!(stderr.lines().any(|l| l.starts_with("manifest sha256:")), "{stderr}");
    assert!(stderr.lines().any(|l| l.starts_with("moved ")), "no summary line:\n{stderr}");

    let layout = format!("oci:{}:app", out.path().join("quiet").display());
    let run = layerize(&["copy", &fixture.reference, &layout, "-q"], None, None);
    assert_eq!(run.stderr, "", "-q printed on stderr");
    assert_eq!(run.ok().lines().count(), 1);

    // -q and --progress say different things.
    let stderr = layerize(&["copy", &fixture.reference, &layout, "-q", "--progress", "json"], None, None).stderr;
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

/// Runs `layerize ARGS` under a pseudo-terminal (`script`), returning all it wrote there.
fn under_terminal(args: &[&str]) -> String {
    tool::require_tool("script");
    let config = tempfile::tempdir().expect("docker config");
    let mut line = shell_quote(&layerize_tests::layerize().display().to_string());
    for arg in args {
        line.push(' ');
        line.push_str(&shell_quote(arg));
    }
    let mut command = Command::new("script");
    command
        .args(["-qfec", &line, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "120")
        .env("DOCKER_CONFIG", config.path());
    String::from_utf8_lossy(&tool::run(&mut command).stdout).into_owned()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What bars leave: cursor moves or line clears, and a bar drawn with `=`/`>`.
fn has_bars(output: &str) -> bool {
    (output.contains("\x1b[2K") || output.contains("\x1b[1A")) && output.contains("=>")
        || output.contains("[=") && output.contains('\x1b')
}

#[test]
fn bars_under_a_pseudo_terminal() {
    let fixture = Fixture::new();
    let out = tempfile::tempdir().expect("out");
    let layout = format!("oci:{}:app", out.path().join("tty").display());
    let output = under_terminal(&["copy", &fixture.reference, &layout]);
    assert!(has_bars(&output), "no bars on a terminal:\n{output:?}");
    // Bars keep to their own lines by padding them to the width, so the result may follow
    // one on the same line of this capture; on the screen it starts a line.
    assert!(output.contains(&format!("{layout}@sha256:")), "no result line:\n{output:?}");
    for digest in fixture.blobs.keys() {
        assert!(output.contains(&format!("blob {digest}: copied")), "no line for {digest}:\n{output:?}");
    }

    // Asked for, bars are drawn into a pipe too.
    let layout = format!("oci:{}:app", out.path().join("forced").display());
    let run: Run = layerize(&["copy", &fixture.reference, &layout, "--progress", "tty"], None, None);
    let stderr = run.stderr.clone();
    assert_eq!(run.ok().lines().count(), 1);
    assert!(has_bars(&stderr), "no bars with --progress tty:\n{stderr:?}");

    // Under a terminal, -q is still quiet: only the result.
    let layout = format!("oci:{}:app", out.path().join("quiet").display());
    let output = under_terminal(&["copy", &fixture.reference, &layout, "-q"]);
    assert_eq!(output.trim_end().lines().count(), 1, "{output:?}");
    assert!(!output.contains('\x1b'), "{output:?}");
}

#[test]
fn json_of_a_save_a_load_and_an_append() {
    let fixture = Fixture::new();
    let out = tempfile::tempdir().expect("out");
    let archive = out.path().join("saved.tar");
    let archive_arg = archive.display().to_string();
    let run = layerize(&["save", &fixture.reference, "-o", &archive_arg, "--progress", "json"], None, None);
    let stderr = run.stderr.clone();
    run.ok();
    let outcomes = check_blob_events(&parse_events(&stderr), &fixture.blobs);
    assert!(outcomes.values().all(|o| o == "copied"), "{outcomes:?}");

    let other = Registry::start(RegistryAuth::Anonymous);
    let target = other.reference("loaded:1");
    let run = layerize(&["load", &archive_arg, "-t", &target, "--progress", "json"], None, None);
    let stderr = run.stderr.clone();
    run.ok();
    let events = parse_events(&stderr);
    let outcomes = check_blob_events(&events, &fixture.blobs);
    assert!(outcomes.values().all(|o| o == "copied"), "{outcomes:?}");
    assert!(events.iter().any(|e| e["event"] == "manifest" && e["tag"] == "1"), "{stderr}");

    // An append onto the loaded image: the base layer is mounted, the new layer is told
    // as a message (it uploads while it is built), then the config and the tagged manifest.
    let file = out.path().join("small.txt");
    fs::write(&file, "hello\n").expect("write");
    let appended = other.reference("appended:1");
    let source = format!("{}:/small.txt", file.display());
    let run = layerize(&["append", &target, "-f", &source, "-t", &appended, "--progress", "json"], None, None);
    let stderr = run.stderr.clone();
    let digest = pushed_digest(&run.ok(), &other.reference("appended"));
    let events = parse_events(&stderr);
    let layer = fixture.blobs.iter().find(|(_, &size)| size > 4 << 20).expect("layer").0;
    let done = |d: &str| events.iter().find(|e| e["event"] == "blob_done" && e["digest"] == d).cloned();
    let outcome = done(layer).expect("the base layer")["outcome"].clone();
    assert!(outcome == "mounted" || outcome == "already_there", "{stderr}");
    assert!(events.iter().any(|e| e["event"] == "message"), "{stderr}");
    let last = events.last().expect("events");
    assert_eq!(*last, serde_json::json!({"event": "manifest", "digest": digest, "tag": "1"}));
}
