//! Transfers over a bad network: a relay between layerize and the real registry cuts
//! connections, answers 503 with Retry-After, or 500 for good. Pulls, pushes and copies of a
//! 300 MiB image complete with the same digests; the bytes that crossed the relay show that
//! downloads resumed rather than restarted, within a run and (into the store) across runs.
//!
//! Uploads cannot resume against this registry: distribution 2.8 seals the upload's offset in
//! the `_state` of its `Location`, and after a PATCH that broke part way it answers the status
//! request with BLOB_UPLOAD_INVALID ("upload resumed at wrong offset") and cancels the upload.
//! layerize then starts the blob again, without an error; the tests check that it asked.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use layerize_tests::relay::{Faults, Relay};
use layerize_tests::{readers, Registry, RegistryAuth};

use crate::cli::{layerize, pushed_digest};

const MIB: u64 = 1 << 20;
/// The layer: random bytes, so gzip leaves it the same size.
const SIZE: u64 = 300 * MIB;

/// A registry holding `big:1`, a one-layer image of [`SIZE`] random bytes; returns the
/// registry, its manifest digest and the layer's size as pushed.
fn registry_with_big_image(work: &Path) -> (Registry, String, u64) {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let file = work.join("big.bin");
    layerize_tests::write_random_file(&file, SIZE as usize, 0x2545_f491_4f6c_dd1d);
    let target = registry.reference("big:1");
    let out = layerize(
        &["append", "scratch", "-f", &format!("{}:/big.bin", file.display()), "-t", &target, "-q"],
        None,
        None,
    )
    .ok();
    let digest = pushed_digest(&out, &registry.reference("big"));
    fs::remove_file(&file).expect("remove the big file");
    let manifest: serde_json::Value =
        serde_json::from_slice(&readers::skopeo_inspect_raw(&registry, "big:1")).expect("manifest");
    let layer = manifest["layers"][0]["size"].as_u64().expect("layer size");
    (registry, digest, layer)
}

fn store_arg(store: &Path) -> String {
    store.display().to_string()
}

/// Two cuts during a pull: it completes with the registry's digest, and less than 1.3× the
/// layer came down (a restart would be at least 1.33× with cuts at a third and two thirds).
#[test]
fn a_pull_resumes_after_cuts() {
    let work = tempfile::tempdir().expect("tempdir");
    let (registry, digest, layer) = registry_with_big_image(work.path());
    let relay =
        Relay::start(registry.port(), Faults { cut_down_at: vec![layer / 3, 2 * layer / 3], ..Faults::default() });
    let name = format!("{}/big:1", relay.host());
    let store = work.path().join("store");
    let out = layerize(&["pull", &name, "--store", &store_arg(&store), "-q"], None, None).ok();
    assert_eq!(pushed_digest(&out, &name), digest);
    assert_eq!(relay.cuts_left(), (0, 0), "the relay did not cut twice");
    let down = relay.down_bytes();
    assert!(down < layer * 13 / 10, "{down} bytes came down for a {layer}-byte layer: the pull restarted");
    assert_eq!(readers::diff_ids_match(&store), 1);
}

/// Two cuts during a push from the store, and during a registry-to-registry copy through two
/// faulty links: both complete with every digest kept; the copy's download resumed (less than
/// 1.3× the layer came down), its upload asked the registry where it stood before starting over.
#[test]
fn a_push_and_a_copy_survive_cuts() {
    let work = tempfile::tempdir().expect("tempdir");
    let (registry, digest, layer) = registry_with_big_image(work.path());
    let store = work.path().join("store");
    let name = registry.reference("big:1");
    layerize(&["pull", &name, "--store", &store_arg(&store), "-q"], None, None).ok();

    let target = Registry::start(RegistryAuth::Anonymous);
    let relay = Relay::start(target.port(), Faults { cut_up_at: vec![layer / 3, layer], ..Faults::default() });
    let pushed = format!("{}/pushed:1", relay.host());
    let out = layerize(&["push", &name, &pushed, "--store", &store_arg(&store), "-q"], None, None).ok();
    assert_eq!(pushed_digest(&out, &pushed), digest);
    assert_eq!(relay.cuts_left(), (0, 0), "the relay did not cut twice");
    assert_eq!(readers::skopeo_inspect_raw(&target, "pushed:1"), readers::skopeo_inspect_raw(&registry, "big:1"));
    assert!(target.log().contains("GET /v2/pushed/blobs/uploads/"), "the broken upload's status was not asked for");

    // Registry to registry, both links faulty.
    let from =
        Relay::start(registry.port(), Faults { cut_down_at: vec![layer / 3, 2 * layer / 3], ..Faults::default() });
    let to = Relay::start(target.port(), Faults { cut_up_at: vec![layer / 2], ..Faults::default() });
    let source = format!("{}/big:1", from.host());
    let dest = format!("{}/copied:1", to.host());
    let out = layerize(&["copy", &source, &dest, "-q"], None, None).ok();
    assert_eq!(pushed_digest(&out, &dest), digest);
    assert_eq!((from.cuts_left(), to.cuts_left()), ((0, 0), (0, 0)));
    let down = from.down_bytes();
    assert!(down < layer * 2, "{down} bytes came down for a {layer}-byte layer copied twice at most");
    assert_eq!(readers::skopeo_inspect_raw(&target, "copied:1"), readers::skopeo_inspect_raw(&registry, "big:1"));
}

/// A pull killed with SIGKILL half way, then run again: the partial blob survived in the
/// store and the rerun fetches only the rest. A push killed half way completes on the rerun
/// (asking the registry about the upload the store remembered, which distribution has dropped).
#[test]
fn killed_transfers_complete_on_the_rerun() {
    let work = tempfile::tempdir().expect("tempdir");
    let (registry, digest, layer) = registry_with_big_image(work.path());
    let store = work.path().join("store");
    let relay = Relay::start(registry.port(), Faults::default());
    let name = format!("{}/big:1", relay.host());
    let kill_half_way = |args: &[&str], bytes: &dyn Fn() -> u64| {
        let mut child = Command::new(layerize_tests::layerize())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn layerize");
        let deadline = Instant::now() + Duration::from_secs(120);
        while bytes() < layer / 2 {
            assert!(Instant::now() < deadline, "the transfer never got half way");
            assert!(child.try_wait().expect("try_wait").is_none(), "the transfer ended before it could be killed");
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().expect("kill -9");
        child.wait().expect("reap");
    };
    kill_half_way(&["pull", &name, "--store", &store_arg(&store), "-q"], &|| relay.down_bytes());
    let first = relay.down_bytes();
    let out = layerize(&["pull", &name, "--store", &store_arg(&store), "-q"], None, None).ok();
    assert_eq!(pushed_digest(&out, &name), digest);
    let second = relay.down_bytes() - first;
    assert!(second < layer * 3 / 4, "the rerun fetched {second} bytes of a {layer}-byte layer: it started again");
    assert_eq!(readers::diff_ids_match(&store), 1);

    let target = Registry::start(RegistryAuth::Anonymous);
    let up = Relay::start(target.port(), Faults::default());
    let pushed = format!("{}/pushed:1", up.host());
    kill_half_way(&["push", &name, &pushed, "--store", &store_arg(&store), "-q"], &|| up.up_bytes());
    let out = layerize(&["push", &name, &pushed, "--store", &store_arg(&store), "-q"], None, None).ok();
    assert_eq!(pushed_digest(&out, &pushed), digest);
    assert!(target.log().contains("upload resumed at wrong off"), "the remembered upload was not asked about");
    let journal = store.join(".layerize/uploads");
    assert_eq!(fs::read_dir(&journal).map(|d| d.count()).unwrap_or(0), 0, "a finished upload is still remembered");
}
/// A busy registry (503 with Retry-After for the first connections) is waited for; one that
/// always answers 500 fails after the retries, naming the registry and the last status.
#[test]
fn busy_registries_are_waited_for_and_broken_ones_named() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    layerize_tests::push_single(&registry, "single:1", layerize_tests::Format::Oci);
    let busy = Relay::start(registry.port(), Faults { busy_first: 2, ..Faults::default() });
    let work = tempfile::tempdir().expect("tempdir");
    let name = format!("{}/single:1", busy.host());
    let started = Instant::now();
    let run =
        layerize(&["pull", &name, "--store", &store_arg(&work.path().join("a")), "--progress", "json"], None, None);
    let stderr = run.stderr.clone();
    run.ok();
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was not honoured");
    let retries: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "retry")
        .collect();
    assert_eq!(retries.len(), 2, "one retry event per busy answer: {stderr}");
    assert!(retries.iter().all(|r| r["reason"].as_str().is_some_and(|t| t.contains("503"))), "{stderr}");

    let broken = Relay::start(registry.port(), Faults { always_500: true, ..Faults::default() });
    let name = format!("{}/single:1", broken.host());
    let err =
        layerize(&["pull", &name, "--store", &store_arg(&work.path().join("b")), "--retries", "3"], None, None).fails();
    assert!(err.contains(&broken.host()) && err.contains("500"), "{err}");
}

/// The benchmark of issue 13's cut connections: a 300 MiB registry-to-registry copy, whole and
/// with two cuts on the download link or on the upload link, `layerize copy` against
/// `skopeo copy --retry-times 3`, alternating, median and min–max of `RUNS` runs. Run with
/// `cargo test -p layerize-tests --test e2e -- --ignored bench_copy_with_cuts --nocapture`.
#[test]
#[ignore = "benchmark: run by hand, see the README"]
fn bench_copy_with_cuts() {
    const RUNS: usize = 3;
    let work = tempfile::tempdir().expect("tempdir");
    let (registry, _, layer) = registry_with_big_image(work.path());
    let cases: [(&str, Faults, Faults); 3] = [
        ("no cut", Faults::default(), Faults::default()),
        (
            "2 cuts downloading",
            Faults { cut_down_at: vec![layer / 3, 2 * layer / 3], ..Faults::default() },
            Faults::default(),
        ),
        (
            "2 cuts uploading",
            Faults::default(),
            Faults { cut_up_at: vec![layer / 3, 2 * layer / 3], ..Faults::default() },
        ),
    ];
    println!("| case | tool | wall s, median (min–max) | ratio to its uncut copy |");
    println!("|---|---|---:|---:|");
    let mut uncut = [0.0f64; 2];
    for (case, down, up) in cases {
        let mut times = [Vec::new(), Vec::new()];
        for run in 0..RUNS {
            for (tool, times) in times.iter_mut().enumerate() {
                let target = Registry::start(RegistryAuth::Anonymous);
                let from = Relay::start(registry.port(), down.clone());
                let to = Relay::start(target.port(), up.clone());
                let source = format!("{}/big:1", from.host());
                let dest = format!("{}/copy{run}:1", to.host());
                let started = Instant::now();
                let ok = if tool == 0 {
                    layerize(&["copy", &source, &dest, "-q"], None, None).status.success()
                } else {
                    Command::new("skopeo")
                        .args([
                            "--insecure-policy",
                            "copy",
                            "--quiet",
                            "--retry-times",
                            "3",
                            "--src-tls-verify=false",
                            "--dest-tls-verify=false",
                            &format!("docker://{source}"),
                            &format!("docker://{dest}"),
                        ])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success())
                };
                // A copy that failed counts as infinitely slow.
                times.push(if ok { started.elapsed().as_secs_f64() } else { f64::INFINITY });
            }
        }
        for (tool, name) in ["layerize copy", "skopeo copy"].iter().enumerate() {
            let mut t = times[tool].clone();
            t.sort_by(f64::total_cmp);
            let median = t[t.len() / 2];
            if case == "no cut" {
                uncut[tool] = median;
            }
            println!(
                "| {case} | {name} | {median:.2} ({:.2}–{:.2}) | {:.2}× |",
                t[0],
                t[t.len() - 1],
                median / uncut[tool]
            );
        }
    }
}
