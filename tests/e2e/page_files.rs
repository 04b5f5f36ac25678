//! The page's file views checked against the CLI, in headless Chromium through the real server
//! and proxy: the merged filesystem of an image with whiteouts, an opaque directory and
//! hardlinks is `layerize ls --merged`'s, entry for entry; one file downloaded from a layer's
//! list or from the merged list is the file the image holds; and files dropped on a base show
//! which base files they replace and which deletions remove something. Layers are read by the
//! worker as they download, so zstd layers list as gzip ones do, and nothing needs the page
//! to be cross-origin isolated.

use std::collections::BTreeMap;

use layerize_tests::browser::Browser;
use layerize_tests::fixtures::layered::{push_layered, push_layered_zstd};
use layerize_tests::server::Server;
use layerize_tests::{push_single, readers, tool, Format, Registry, RegistryAuth};
use serde_json::Value;

use crate::cli::layerize;

/// One row as the page shows it: path, kind, layer (`L2`), size in bytes (files only; the
/// text shows it readable, `data-bytes` exactly), target.
type Row = (String, String, String, String, String);

/// The rows the list `list` shows in the DOM now, by their index in the whole list.
fn shown(b: &Browser, list: &str) -> BTreeMap<u64, Row> {
    let script = format!(
        "return Array.from(document.querySelectorAll('#{list} .file-list-row')).map(r => {{ \
           const t = s => r.querySelector(s).textContent.trim(); \
           const bytes = r.querySelector('.size').dataset.bytes ?? ''; \
           return [Math.round(parseFloat(r.style.top) / 22), t('.path'), t('.kind'), t('.layer'), bytes, t('.target')]; }});"
    );
    let rows = b.eval(&script);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    rows.as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r[0].as_u64().unwrap_or(u64::MAX),
                        (text(&r[1]), text(&r[2]), text(&r[3]), text(&r[4]), text(&r[5])),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every row of the virtualised list `list` (`count` rows), read by scrolling through it.
fn all_rows(b: &Browser, list: &str, count: u64) -> Vec<Row> {
    let mut rows = BTreeMap::new();
    let mut at = 0;
    while at < count {
        let last = (at + 19).min(count - 1);
        b.eval(&format!("const l = document.getElementById('{list}'); l.scrollTop = {}; l.dispatchEvent(new Event('scroll')); return null;", at * 22));
        let script = format!("return !!Array.from(document.querySelectorAll('#{list} .file-list-row')).find(r => Math.round(parseFloat(r.style.top) / 22) === {last});");
        b.wait_until(&script, &Value::Bool(true), &format!("row {last} of {list}"));
        rows.extend(shown(b, list));
        at += 20;
    }
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), (0..count).collect::<Vec<_>>(), "rows by index");
    rows.into_values().collect()
}

/// A CLI `ls --json` line as the page shows it.
fn as_row(line: &str) -> Row {
    let v: Value = serde_json::from_str(line).expect("JSON");
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let kind = text("type");
    let size = if kind == "file" || kind == "hardlink" { v["size"].to_string() } else { String::new() };
    let target = ["target", "hides", "dir"].iter().map(|k| text(k)).find(|t| !t.is_empty()).unwrap_or_default();
    let layer = v["layer"].as_u64().map(|l| format!("L{l}")).unwrap_or_default();
    (text("path"), kind, layer, size, target)
}

fn ok(args: &[&str]) -> String {
    layerize(args, None, None).ok()
}

/// Clicks the download button of `path` in the list `list` (scrolled into view first).
fn download_from(b: &Browser, list: &str, index: usize, path: &str) {
    b.eval(&format!("const l = document.getElementById('{list}'); l.scrollTop = {}; l.dispatchEvent(new Event('scroll')); return null;", index * 22));
    let find = format!("Array.from(document.querySelectorAll('#{list} .file-list-row')).find(r => r.querySelector('.path').textContent.trim() === {path:?})");
    b.wait_until(
        &format!("return !!{find}?.querySelector('button.download');"),
        &Value::Bool(true),
        &format!("a download button for {path}"),
    );
    b.eval(&format!("{find}.querySelector('button.download').click(); return null;"));
}

#[test]
fn page_merges_layers_like_the_cli() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let pushed = push_layered(&registry, "layered:1", Format::Oci);
    let merged = ok(&["ls", "--merged", "--json", &pushed.reference]);
    let expected: Vec<Row> = merged.lines().map(as_row).collect();
    // The fixture is what this test is about: whiteouts, an opaque directory, a hardlink, a
    // path deleted and made again as a directory.
    let find = |path: &str| expected.iter().find(|r| r.0 == path).cloned();
    assert!(find("/etc/motd").is_some_and(|r| r.1 == "dir") && find("/etc/motd/note").is_some());
    assert!(find("/var/cache/old").is_none() && find("/bin/sh").is_none() && find("/opt/app/data/a.txt").is_none());
    assert!(find("/opt/app/data/only.txt").is_some() && find("/opt/app/data/after.txt").is_some());
    let link = find("/opt/app/bin/new-tool-link").map(|r| (r.1, r.3, r.4));
    assert_eq!(link, Some(("hardlink".to_owned(), "4".to_owned(), "/opt/app/bin/new-tool".to_owned())));

    let server = Server::start(&[registry.host()]);
    let mut b = Browser::start("files-merged");
    b.goto(&format!("{}/?image={}", server.url(), pushed.reference));
    assert_eq!(b.wait_text("#base-digest"), pushed.digest);
    b.click("#merged-load");
    b.wait_done("#merged-files-count");
    assert_eq!(b.wait_text("#merged-files-status"), "complete");
    assert_eq!(b.wait_text("#merged-files-count"), expected.len().to_string(), "the page merges what the CLI merges");
    b.screenshot("merged");
    let rows = all_rows(&b, "merged-files", expected.len() as u64);
    assert_eq!(rows, expected);
    b.screenshot("merged-scrolled");
}

#[test]
fn page_downloads_one_file_from_a_layer_and_from_the_merged_view() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let pushed = push_layered(&registry, "layered:1", Format::Docker);
    let server = Server::start(&[registry.host()]);
    let mut b = Browser::start("files-download");
    b.goto(&format!("{}/?image={}", server.url(), pushed.reference));
    assert_eq!(b.wait_text("#base-digest"), pushed.digest);

    // The busybox binary from layer 1's list: a file of several Blob parts' worth.
    let layer1 = ok(&["ls", "--layer", "1", "--json", &pushed.reference]);
    let at = layer1.lines().position(|l| as_row(l).0 == "/bin/busybox").expect("/bin/busybox in layer 1");
    b.click("#base-layers tbody tr:nth-child(1) button.layer-files-button");
    b.wait_done("#layer-files-count");
    download_from(&b, "layer-files", at, "/bin/busybox");
    let saved = b.wait_download("busybox");
    let busybox = tool::tool_path("busybox").unwrap_or_else(|| "/bin/busybox".into());
    let want = std::fs::read(&busybox).expect("busybox");
    assert!(
        std::fs::read(&saved).expect("download") == want,
        "the downloaded busybox is {} bytes, the fixture's {}",
        saved.metadata().map(|m| m.len()).unwrap_or(0),
        want.len()
    );
    b.wait_done("#layer-files-panel .file-download-status");
    b.screenshot("layer-file-saved");

    // The config file from the merged list: the version of layer 2, which replaced layer 1's.
    let merged = ok(&["ls", "--merged", "--json", &pushed.reference]);
    let at = merged.lines().position(|l| as_row(l).0 == "/opt/app/config.txt").expect("config.txt");
    assert_eq!(as_row(merged.lines().nth(at).unwrap_or_default()).2, "L2");
    b.click("#merged-load");
    b.wait_done("#merged-files-count");
    download_from(&b, "merged-files", at, "/opt/app/config.txt");
    let saved = b.wait_download("config.txt");
    assert_eq!(std::fs::read_to_string(&saved).expect("download"), "v2, a little longer\n");
    b.screenshot("merged-file-saved");
}

/// Waits for layer `n`'s listing, opened from the layer table, to finish; its row count.
fn list_layer(b: &Browser, n: usize) -> String {
    b.click(&format!("#base-layers tbody tr:nth-child({n}) button.layer-files-button"));
    b.wait_done("#layer-files-count")
}

#[test]
fn page_lists_zstd_layers_like_the_cli() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let pushed = push_layered_zstd(&registry, "layered-zstd:1");
    let server = Server::start(&[registry.host()]);
    let mut b = Browser::start("files-zstd");
    b.goto(&format!("{}/?image={}", server.url(), pushed.reference));
    assert_eq!(b.wait_text("#base-digest"), pushed.digest);
    // Layer 2: whiteouts, an opaque directory, a hardlink to layer 1.
    let layer = ok(&["ls", "--layer", "2", "--json", &pushed.reference]);
    let expected: Vec<(String, String)> = layer.lines().map(as_row).map(|r| (r.0, r.1)).collect();
    assert_eq!(list_layer(&b, 2), expected.len().to_string(), "the page lists what the CLI lists");
    let rows = all_rows(&b, "layer-files", expected.len() as u64);
    assert_eq!(rows.into_iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(), expected);
    b.screenshot("zstd-listed");
}

/// The server's `--no-isolation` leaves the page as it is served anyway (not cross-origin
/// isolated, no shared memory): listing, the merged view and a download all work.
#[test]
fn page_lists_merges_and_downloads_without_isolation() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let pushed = push_layered(&registry, "layered:1", Format::Oci);
    let server = Server::start_with(&[registry.host()], &["--no-isolation"]);
    let mut b = Browser::start("files-no-isolation");
    b.goto(&format!("{}/?image={}", server.url(), pushed.reference));
    assert_eq!(b.eval("return self.crossOriginIsolated;"), Value::Bool(false), "cross-origin isolated");
    assert_eq!(b.wait_text("#base-digest"), pushed.digest);
    let layer1 = ok(&["ls", "--layer", "1", "--json", &pushed.reference]);
    assert_eq!(list_layer(&b, 1), layer1.lines().count().to_string(), "the page lists what the CLI lists");

    let merged = ok(&["ls", "--merged", "--json", &pushed.reference]);
    b.click("#merged-load");
    assert_eq!(
        b.wait_done("#merged-files-count"),
        merged.lines().count().to_string(),
        "the page merges what the CLI merges"
    );
    let at = merged.lines().position(|l| as_row(l).0 == "/opt/app/config.txt").expect("config.txt");
    download_from(&b, "merged-files", at, "/opt/app/config.txt");
    let saved = b.wait_download("config.txt");
    assert_eq!(std::fs::read_to_string(&saved).expect("download"), "v2, a little longer\n");
    b.screenshot("no-isolation");
}

#[test]
fn page_shows_what_dropped_files_replace_and_delete_in_the_base() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let pushed = push_single(&registry, "base:1", Format::Oci);
    let merged = ok(&["ls", "--merged", "--json", &pushed.reference]);
    let base: Vec<Value> = merged.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let motd = base.iter().find(|e| e["path"] == "/etc/motd").expect("/etc/motd in the base");
    assert!(base.iter().any(|e| e["path"] == "/etc/os-release"));
    let dir = tempfile::tempdir().expect("temp dir");
    let new_motd = dir.path().join("motd");
    let content = "a new motd, longer than the base's\n";
    std::fs::write(&new_motd, content).expect("write");

    let server = Server::start(&[registry.host()]);
    let mut b = Browser::start("files-shadow");
    b.goto(&format!("{}/?image={}", server.url(), pushed.reference));
    assert_eq!(b.wait_text("#base-digest"), pushed.digest);
    b.fill("#prefix", "/etc\u{E004}");
    b.pick("#file-input", &new_motd);
    for path in ["/etc/os-release", "/etc/not-in-the-base"] {
        b.fill("#delete-path", path);
        b.click("#delete-add");
    }
    b.click("#shadow-compare");
    b.wait_done("#shadow-status");

    // The dropped file replaces the base's /etc/motd: its size and layer as the CLI lists them.
    let replaced = b.eval(
        "return Array.from(document.querySelectorAll('#shadow-replaced tr.replaced')).map(r => \
           [r.querySelector('.path').textContent.trim(), r.querySelector('.base').textContent.trim(), r.querySelector('.new').textContent.trim()]);",
    );
    let base_says = format!("file {} B (layer {})", motd["size"], motd["layer"]);
    assert_eq!(replaced, serde_json::json!([["/etc/motd", base_says, format!("file {} B", content.len())]]));

    // Two whiteouts: one removes a base file, the other names nothing in the base.
    let deletions = b.eval(
        "return Array.from(document.querySelectorAll('#shadow-deletes tr.deletion')).map(r => \
           [r.querySelector('.path').textContent.trim(), r.classList.contains('missing')]);",
    );
    assert_eq!(deletions, serde_json::json!([["/etc/not-in-the-base", true], ["/etc/os-release", false]]));
    assert_eq!(
        b.eval("return document.getElementById('shadow-added-bytes').dataset.bytes;"),
        Value::from(content.len().to_string())
    );
    b.screenshot("shadow");
}

#[test]
fn page_reports_a_damaged_layer_and_saves_nothing_from_it() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let pushed = push_single(&registry, "base:1", Format::Oci);
    let manifest: Value = serde_json::from_slice(&readers::skopeo_inspect_raw(&registry, "base:1")).expect("JSON");
    let layer = manifest["layers"][0]["digest"].as_str().expect("layer digest").to_owned();
    let listed = ok(&["ls", "--layer", "1", "--json", &pushed.reference]);
    let motd = listed.lines().position(|l| as_row(l).0 == "/etc/motd").expect("/etc/motd in layer 1");
    let hex = layer.trim_start_matches("sha256:");
    let data = registry.storage_dir().join(format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]));
    let good = std::fs::read(&data).expect("registry blob");
    let mut blob = good.clone();
    let last = blob.len() - 1;
    // The gzip trailer's last byte (the length): every member reads, only the check fails.
    blob[last] ^= 0x55;
    std::fs::write(&data, &blob).expect("damage the registry's blob");

    let server = Server::start(&[registry.host()]);
    let b = Browser::start("files-damaged");
    b.goto(&format!("{}/?image={}", server.url(), pushed.reference));
    assert_eq!(b.wait_text("#base-digest"), pushed.digest);
    b.click("#merged-load");
    b.wait_until(
        "return document.querySelector('#merged-files-status.error') ? 'failed' : '';",
        &Value::from("failed"),
        "the merge to fail",
    );
    let status = b.wait_text("#merged-files-status");
    assert!(status.contains(&layer) && status.contains("layer 1 of 1"), "{status}");
    assert_eq!(b.wait_text("#merged-files-count"), "0", "nothing merged from a layer that fails its check");

    // The proxy checks the whole blob and cuts it short; a file whose member reads fine is
    // still not handed over, since its layer fails the check.
    b.click("#base-layers tbody tr:nth-child(1) button.layer-files-button");
    b.wait_until(
        "return document.querySelector('#layer-files-status.error') ? 'failed' : '';",
        &Value::from("failed"),
        "the listing to fail",
    );
    let status = b.wait_text("#layer-files-status");
    assert!(status.contains(&layer), "{status}");
    // A file whose member reads fine is not handed over either, since its layer fails the
    // check: listed while the blob was whole, downloaded once it is damaged.
    std::fs::write(&data, &good).expect("restore the registry's blob");
    let server = Server::start_with(&[registry.host()], &["--no-isolation"]);
    let mut b = Browser::start("files-damaged-range");
    b.goto(&format!("{}/?image={}", server.url(), pushed.reference));
    assert_eq!(b.wait_text("#base-digest"), pushed.digest);
    b.click("#base-layers tbody tr:nth-child(1) button.layer-files-button");
    b.wait_done("#layer-files-count");
    std::fs::write(&data, &blob).expect("damage the registry's blob again");
    download_from(&b, "layer-files", motd, "/etc/motd");
    b.wait_until(
        "return document.querySelector('#layer-files-panel .file-download-status.error') ? 'failed' : '';",
        &Value::from("failed"),
        "the download to fail",
    );
    let status = b.wait_text("#layer-files-panel .file-download-status");
    assert!(status.contains("/etc/motd") && status.contains(&layer), "{status}");
    b.screenshot("damaged");
    std::thread::sleep(std::time::Duration::from_secs(1));
    let saved: Vec<_> = std::fs::read_dir(b.downloads()).expect("downloads").collect();
    assert!(saved.is_empty(), "nothing is downloaded: {saved:?}");
}
