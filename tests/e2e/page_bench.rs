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
    let rss =
        String::from_utf8_lossy(&output.stderr).trim().lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    let _ = std::fs::remove_file(&out);
    (secs, json["digest"].as_str().unwrap_or_default().to_owned(), rss)
}

#[test]
#[ignore = "benchmark: run by `cargo xtask bench-page`"]
fn page_layer_build_vs_cli() {
    let trees = std::env::var("LAYERIZE_BENCH_TREES").expect("LAYERIZE_BENCH_TREES=dir[,dir…]");
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_single(&registry, "base:1", Format::Oci);
    let server = Server::start_release(&[registry.host()]);
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
            let millis: f64 = b
                .eval("return Number(document.getElementById('build-speed').textContent.split(' ')[0]);")
                .as_f64()
                .unwrap_or(0.0);
            let wasm_mib = b.wait_text("#build-memory");
            let heap =
                b.eval("return performance.memory ? performance.memory.usedJSHeapSize : 0;").as_u64().unwrap_or(0);
            b.screenshot(&format!(
                "built-{}-{workers}-workers",
                tree.file_name().and_then(|n| n.to_str()).unwrap_or("tree")
            ));
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

/// Seconds to the first line and to the end of a command's stdout, and its line count.
fn listing(cmd: &mut Command) -> (f64, f64, usize) {
    use std::io::BufRead;
    let start = Instant::now();
    let mut child =
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().expect("spawn");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut first = None;
    let mut count = 0;
    for line in lines.by_ref() {
        line.expect("read line");
        first.get_or_insert_with(|| start.elapsed().as_secs_f64());
        count += 1;
    }
    assert!(child.wait().expect("wait").success(), "{cmd:?} failed");
    (first.unwrap_or(0.0), start.elapsed().as_secs_f64(), count)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The page's listing of one big layer (time to the first rendered row and to the last)
/// against `layerize ls --layer 2` and `skopeo copy` + `tar -tzf`, median of 3 runs each,
/// all on the same image in one run.
#[test]
#[ignore = "benchmark: run by `cargo xtask bench-page`"]
fn page_listing_vs_cli_and_skopeo() {
    let tree = std::env::var("LAYERIZE_BENCH_LIST_TREE").expect("LAYERIZE_BENCH_LIST_TREE=dir");
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_single(&registry, "base:1", Format::Docker);
    let target = registry.reference("listing:1");
    let out = Command::new(layerize_tests::layerize_release())
        .args([
            "append",
            &base.reference,
            "-f",
            &format!("{tree}:/data"),
            "-t",
            &target,
            "-q",
            "--created",
            "2024-01-01T00:00:00Z",
        ])
        .output()
        .expect("layerize append");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reference = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let manifest = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{reference}")])
        .output()
        .expect("skopeo inspect");
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.stdout).expect("manifest JSON");
    let layer = manifest["layers"][1]["digest"].as_str().expect("layer 2").to_owned();
    let layer_mib = manifest["layers"][1]["size"].as_u64().unwrap_or(0) as f64 / (1 << 20) as f64;

    let server = Server::start_release(&[registry.host()]);
    let mut b = Browser::start("bench-listing");
    let (mut page_first, mut page_all, mut page_count) = (Vec::new(), Vec::new(), 0usize);
    for _ in 0..3 {
        b.goto(&format!("{}/?image={reference}", server.url()));
        b.wait_text("#base-digest");
        // Timed in the page: from the click to the first row in the DOM and to "done".
        b.eval(
            "window.__t = {}; const t0 = performance.now();
             const seen = () => {
               if (!window.__t.first && document.querySelector('#layer-files .layer-file')) window.__t.first = performance.now() - t0;
               if (!window.__t.done && document.querySelector('#layer-files-count')?.dataset.done === 'true') window.__t.done = performance.now() - t0;
             };
             new MutationObserver(seen).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
             document.querySelector('#base-layers tbody tr:nth-child(2) button.layer-files-button').click();
             return null;",
        );
        b.wait_until(
            "return window.__t.done ? 'done' : '';",
            &serde_json::Value::from("done"),
            "the listing to finish",
        );
        page_first.push(b.eval("return window.__t.first;").as_f64().unwrap_or(0.0) / 1000.0);
        page_all.push(b.eval("return window.__t.done;").as_f64().unwrap_or(0.0) / 1000.0);
        page_count = b.wait_text("#layer-files-count").parse().unwrap_or(0);
    }
    b.screenshot("listed");
    // The floor under the page: the browser's own download of the blob through the proxy in
    // a worker, every chunk read and dropped, nothing else done.
    let blob_url = format!("/proxy/http/{}/v2/listing/blobs/{layer}", registry.host());
    let mut fetch_only = Vec::new();
    for _ in 0..3 {
        b.eval(&format!(
            "window.__f = null;
             const src = `onmessage = async (e) => {{ const t0 = performance.now(); const r = await fetch(e.data); const rd = r.body.getReader(); for (;;) {{ const x = await rd.read(); if (x.done) break; }} postMessage(performance.now() - t0); }}`;
             const w = new Worker(URL.createObjectURL(new Blob([src], {{ type: 'text/javascript' }})));
             w.onmessage = (e) => {{ window.__f = e.data; w.terminate(); }};
             w.postMessage(location.origin + {blob_url:?});
             return null;"
        ));
        b.wait_until("return window.__f ? 'done' : '';", &serde_json::Value::from("done"), "the download alone");
        fetch_only.push(b.eval("return window.__f;").as_f64().unwrap_or(0.0) / 1000.0);
    }

    let (mut cli_first, mut cli_all, mut cli_count) = (Vec::new(), Vec::new(), 0);
    let (mut sk_first, mut sk_all, mut sk_count) = (Vec::new(), Vec::new(), 0);
    for _ in 0..3 {
        let (f, a, n) =
            listing(Command::new(layerize_tests::layerize_release()).args(["ls", "--layer", "2", &reference]));
        cli_first.push(f);
        cli_all.push(a);
        cli_count = n;
        let dir = tempfile::tempdir().expect("temp dir");
        let start = Instant::now();
        let copied = Command::new("skopeo")
            .args(["--insecure-policy", "copy", "--quiet", "--src-tls-verify=false", &format!("docker://{reference}")])
            .arg(format!("oci:{}:bench", dir.path().display()))
            .status()
            .expect("skopeo copy");
        assert!(copied.success());
        let copy = start.elapsed().as_secs_f64();
        let blob = dir.path().join("blobs/sha256").join(layer.trim_start_matches("sha256:"));
        let (f, a, n) = listing(Command::new("tar").arg("-tzf").arg(&blob));
        sk_first.push(copy + f);
        sk_all.push(copy + a);
        sk_count = n;
    }
    // tar lists "./" prefixed members and directories as the layer holds them; the page and
    // the CLI list the same members, so their counts must agree exactly.
    assert_eq!(page_count, cli_count, "the page and the CLI list the same members");
    assert_eq!(cli_count, sk_count, "tar lists the same members");
    let (cf, ca) = (median(cli_first), median(cli_all));
    let fetched = median(fetch_only);
    let fetch_row = format!(
        "| the browser's download of the blob alone (a worker drains `fetch`) | – | {fetched:.3} | {:.2}× | – |",
        fetched / ca
    );
    let row = |name: &str, f: f64, a: f64, n: usize| format!("| {name} | {f:.3} | {a:.3} | {:.2}× | {n} |", a / ca);
    let table = format!(
        "Layer 2: {layer_mib:.0} MiB gzip, {cli_count} members; median of 3 runs, seconds\n\n| lister | first row / line | full listing | full listing ÷ CLI | members |\n|---|---:|---:|---:|---:|\n{}\n{}\n{}\n{}\n",
        row("page (one worker decodes the blob as it streams through the proxy)", median(page_first), median(page_all), page_count),
        fetch_row,
        row("`layerize ls REF --layer 2`", cf, ca, cli_count),
        row("`skopeo copy docker://REF oci:DIR` + `tar -tzf` layer 2", median(sk_first), median(sk_all), sk_count),
    );
    println!("{table}");
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    std::fs::write(dir.join("page-ls.md"), &table).expect("write table");
}
