//! The page's state, in headless Chromium through the real server and proxy against a real
//! registry: a base load answered after a newer one never replaces it, and a file row removed
//! takes its file out of the layer.

use std::fs;
use std::time::Duration;

use layerize_tests::browser::Browser;
use layerize_tests::relay::{Faults, Relay};
use layerize_tests::server::Server;
use layerize_tests::{push_single, Format, Registry, RegistryAuth};
use serde_json::Value;

use crate::cli::layerize;

/// WebDriver's Tab key: leaving a field fires its change event.
const TAB: &str = "\u{E004}";

/// A script saying whether the page has fetched something whose path under `/v2/` holds
/// `what` from `host` through the proxy: Resource Timing lists a fetch once its whole answer
/// is in.
fn fetched(host: &str, what: &str) -> String {
    let proxied = format!("/proxy/http/{host}/v2/");
    format!(
        "return performance.getEntriesByType('resource').some(e => e.name.includes({proxied:?}) && e.name.includes({what:?}));"
    )
}

#[test]
fn page_shows_the_base_loaded_last_when_an_earlier_load_answers_later() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let slow_base = push_single(&registry, "slow:1", Format::Oci);
    let fast_base = push_single(&registry, "fast:1", Format::Docker);
    assert_ne!(slow_base.digest, fast_base.digest, "the two bases must be told apart");
    // The same registry, far away: every answer comes two seconds late.
    let far = Relay::start(registry.port(), Faults { delay_down: Duration::from_secs(2), ..Faults::default() });
    let slow = format!("{}/slow:1", far.host());
    let server = Server::start(&[registry.host(), far.host()]);
    let mut b = Browser::start("state-two-loads");
    b.goto(&server.url());

    b.fill("#base-ref", &slow);
    b.click("#base-load");
    b.fill("#base-ref", &fast_base.reference);
    b.click("#base-load");
    b.wait_for_text("#base-digest", &fast_base.digest);
    let far_manifest = fetched(&far.host(), "/manifests/");
    assert_eq!(b.eval(&far_manifest), Value::Bool(false), "the far registry answered before the near one");

    // The first load's answer comes in last; the page keeps showing the second.
    b.wait_until(&far_manifest, &Value::Bool(true), "the far registry's answer");
    b.screenshot("after-the-late-answer");
    assert_eq!(b.wait_text("#base-digest"), fast_base.digest, "the later load's base stays");
    let search = b.eval("return decodeURIComponent(window.location.search);");
    assert_eq!(search, Value::from(format!("?image={}", fast_base.reference)), "the address names the later load");
    assert_eq!(b.eval(&fetched(&far.host(), "/blobs/")), Value::Bool(false), "the late answer loads nothing more");
    assert_eq!(b.eval("return document.querySelectorAll('#base-details').length;"), Value::from(1));
}

#[test]
fn page_removing_a_file_row_drops_its_file_from_the_layer() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_single(&registry, "base:1", Format::Oci);
    let dir = tempfile::tempdir().expect("temp dir");
    let app = dir.path().join("app");
    fs::create_dir_all(&app).expect("mkdir");
    fs::write(app.join("kept.txt"), "this file stays in the layer\n").expect("write");
    fs::write(app.join("removed.txt"), "this file is taken out again\n").expect("write");
    let notes = dir.path().join("notes.txt");
    fs::write(&notes, "notes beside the folder\n").expect("write");
    let server = Server::start(&[registry.host()]);
    let mut b = Browser::start("state-remove-row");
    b.goto(&format!("{}/?image={}", server.url(), base.reference));
    assert_eq!(b.wait_text("#base-digest"), base.digest);

    b.fill("#prefix", &format!("/opt{TAB}"));
    b.pick("#folder-input", &app);
    b.pick("#file-input", &notes);
    b.wait_count("#rows tr.file-row", 3);
    b.click("#build-button");
    let with_all = b.wait_text("#blob-digest");

    // Removing a row makes the build stale at once, and the next build leaves its file out.
    let removed = "Array.from(document.querySelectorAll('#rows tr.file-row')).find(r => r.querySelector('input.dest').value === '/opt/app/removed.txt')";
    b.eval(&format!("{removed}.querySelector('button.remove').click(); return null;"));
    b.wait_count("#rows tr.file-row", 2);
    b.wait_count("#build-result", 0);
    b.screenshot("row-removed");
    b.click("#build-button");
    let digest = b.wait_text("#blob-digest");
    let diff_id = b.wait_text("#diff-id");
    let command = b.wait_text("#cli-command");
    b.screenshot("rebuilt");
    assert_ne!(digest, with_all);
    assert!(!command.contains("removed.txt") && command.contains("kept.txt"), "{command}");

    let kept = format!("{}:/opt/app/kept.txt", app.join("kept.txt").display());
    let notes = format!("{}:/opt/notes.txt", notes.display());
    let out = dir.path().join("cli.tar.gz");
    let cli =
        layerize(&["layer", "-f", &kept, "-f", &notes, "-o", &out.display().to_string(), "--json"], None, None).ok();
    let cli: Value = serde_json::from_str(&cli).expect("JSON");
    assert_eq!(digest, cli["digest"], "the layer is the CLI's of the files left");
    assert_eq!(diff_id, cli["diff_id"]);
}
