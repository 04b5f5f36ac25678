//! The page's layer build measured against the CLI's on the same tree, in one run. Ignored by
//! default (it needs generated trees); `cargo xtask bench page` makes them and runs it.
//!
//! Input: `LAYERIZE_BENCH_TREES`, comma-separated directories. For each, the page builds the
//! layer from the folder picked in headless Chromium, in one Web Worker and then spread over two
//! (the machine's cores); the CLI builds the same files with one
//! deflate thread and with all cores. The digests must agree; the table goes to stdout and
//! `target/bench/page.md`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use layerize_tests::browser::Browser;
use layerize_tests::server::Server;
use layerize_tests::{push_single, target_dir, Format, Registry, RegistryAuth};

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(path).expect("read dir") {
        let entry = entry.expect("entry");
        let meta = entry.metadata().expect("metadata");
        total += if meta.is_dir() { dir_size(&entry.path()) } else { meta.len() };
    }
    total
}

/// Runs the CLI on `tree`; returns (seconds, digest, max RSS KiB).
fn cli(tree: &Path, threads: &str) -> (f64, String, u64) {
    let name = tree.file_name().and_then(|n| n.to_str()).unwrap_or("tree");
    let out = target_dir().join("bench").join("page-cli.tar.gz");
    let start = Instant::now();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(layerize_tests::layerize_release())
        .args(["layer", "--json", "--threads", threads, "-f"])
        .arg(format!("{}:/{name}", tree.display()))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run layerize");
    let secs = start.elapsed().as_secs_f64();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let rss = String::from_utf8_lossy(&output.stderr).trim().lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    let _ = std::fs::remove_file(&out);
    (secs, json["digest"].as_str().unwrap_or_default().to_owned(), rss)
}

#[test]
#[ignore = "benchmark: run by `cargo xtask bench page`"]
fn page_layer_build_vs_cli() {
    let trees = std::env::var("LAYERIZE_BENCH_TREES").expect("LAYERIZE_BENCH_TREES=dir[,dir…]");
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_single(&registry, "base:1", Format::Oci);
    let server = Server::start(&[registry.host()]);
    let mut rows = Vec::new();
    for tree in trees.split(',').filter(|t| !t.is_empty()) {
        let tree = Path::new(tree);
        let mib = dir_size(tree) as f64 / (1 << 20) as f64;
        let mut b = Browser::start("bench");
        b.goto(&server.url());
        b.fill("#base-ref", &base.reference);
        b.click("#base-load");
        b.wait_text("#base-digest");
        b.fill("#prefix", "/\u{E004}");
        b.pick("#folder-input", tree);
        let mut page = Vec::new();
        for workers in ["1", "2"] {
            b.fill("#build-workers", workers);
            b.click("#build-button");
            let digest = b.wait_text("#blob-digest");
            let millis: f64 = b.eval("return Number(document.getElementById('build-speed').textContent.split(' ')[0]);").as_f64().unwrap_or(0.0);
            let wasm_mib = b.wait_text("#build-memory");
            let heap = b.eval("return performance.memory ? performance.memory.usedJSHeapSize : 0;").as_u64().unwrap_or(0);
            b.screenshot(&format!("built-{}-{workers}-workers", tree.file_name().and_then(|n| n.to_str()).unwrap_or("tree")));
            page.push((digest, millis, wasm_mib, heap));
        }
        let (one, cli_digest, rss_one) = cli(tree, "1");
        let (all, _, rss_all) = cli(tree, "0");
        let one_rate = mib / one;
        for (digest, _, _, _) in &page {
            assert_eq!(digest, &cli_digest, "page and CLI build the same bytes");
        }
        let rate = |millis: f64| mib / (millis / 1000.0);
        let heap = page.iter().map(|p| p.3).max().unwrap_or(0);
        rows.push(format!(
            "| {mib:.0} MiB | {:.1} MiB/s ({:.1} s) | {:.1} MiB/s ({:.1} s) | {one_rate:.1} MiB/s | {:.1} MiB/s | **{:.2}×** / **{:.2}×** | {} | {:.1} MiB | {} / {} MiB |",
            rate(page[0].1),
            page[0].1 / 1000.0,
            rate(page[1].1),
            page[1].1 / 1000.0,
            mib / all,
            rate(page[0].1) / one_rate,
            rate(page[1].1) / one_rate,
            page[1].2,
            heap as f64 / (1 << 20) as f64,
            rss_one >> 10,
            rss_all >> 10,
        ));
    }
    let table = format!(
        "| input | page, 1 worker | page, 2 workers | CLI 1 thread | CLI all cores | page ÷ CLI 1 thread (1 / 2 workers) | wasm memory per worker | page JS heap | CLI max RSS (1 / all) |\n|---|---|---|---|---|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    println!("{table}");
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    std::fs::write(dir.join("page.md"), &table).expect("write table");
}
