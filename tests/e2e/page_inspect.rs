//! The page as an image inspector, checked against the CLI: every index entry listed (the
//! attestation labelled), the raw manifest and config digested as `layerize inspect` prints
//! them, a shareable address that opens a platform, and a layer's files as `layerize ls` lists
//! them.

use layerize_tests::browser::Browser;
use layerize_tests::oci_layout::sha256_digest;
use layerize_tests::server::Server;
use layerize_tests::{push_index, push_single, Format, Pushed, Registry, RegistryAuth};
use serde_json::Value;

use crate::cli::layerize;

fn ok(args: &[&str]) -> String {
    layerize(args, None, None).ok()
}

fn texts(b: &Browser, css: &str) -> Vec<String> {
    let script = format!("return Array.from(document.querySelectorAll({css:?})).map(e => e.textContent.trim());");
    match b.eval(&script) {
        Value::Array(v) => v.into_iter().map(|s| s.as_str().unwrap_or_default().to_owned()).collect(),
        other => panic!("{css}: {other}"),
    }
}

fn index_fixture() -> (Registry, Pushed, Server) {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_index(&registry, "multi:1", Format::Oci);
    let server = Server::start(&[registry.host()]);
    (registry, base, server)
}

#[test]
fn page_inspects_an_index_like_the_cli() {
    let (_registry, base, server) = index_fixture();
    let reference = &base.reference;
    let mut b = Browser::start("inspect-index");
    b.goto(&server.url());
    b.fill("#base-ref", reference);
    b.click("#base-load");
    b.wait_count("#index-entries .index-entry", 3);

    // Every entry, the attestation labelled rather than hidden.
    let digests = texts(&b, "#index-entries .index-entry .digest");
    let expected: Vec<String> = base.manifests.iter().map(|m| m.digest.clone()).collect();
    assert_eq!(digests, expected);
    let platforms = texts(&b, "#index-entries .index-entry .platform");
    let wanted: Vec<String> = base.manifests.iter().map(|m| m.platform.clone()).collect();
    assert_eq!(platforms, wanted);
    let roles = texts(&b, "#index-entries .index-entry .role");
    assert!(roles[2].starts_with("attestation"), "{roles:?}");
    assert_eq!(texts(&b, "#index-entries .index-entry.attestation .platform"), ["unknown/unknown"]);

    // The default platform; its raw documents digested as the CLI prints them.
    let amd64 = base.platform("linux/amd64").digest.clone();
    b.wait_for_text("#base-digest", &amd64);
    let raw = ok(&["inspect", "--raw", "--platform", "linux/amd64", reference]);
    let config = ok(&["inspect", "--config", "--platform", "linux/amd64", reference]);
    assert_eq!(b.wait_text("#raw-manifest-digest"), sha256_digest(raw.as_bytes()));
    assert_eq!(b.wait_text("#raw-config-digest"), sha256_digest(config.as_bytes()));
    assert_eq!(sha256_digest(raw.as_bytes()), amd64);
    let shown: Value = serde_json::from_str(&b.wait_text("#raw-manifest")).expect("the raw manifest shows as JSON");
    assert_eq!(shown, serde_json::from_str::<Value>(&raw).expect("JSON"));
    let layers = shown["layers"].as_array().map_or(0, Vec::len) as u64;
    b.wait_count("#layer-bars .layer-bar", layers);
    b.screenshot("inspected");

    // The address names the view.
    let search = b.eval("return new URLSearchParams(location.search).get('image') + ' ' + new URLSearchParams(location.search).get('platform');");
    assert_eq!(search.as_str(), Some(format!("{reference} linux/amd64").as_str()));

    // Choosing another image from the entries updates the view and the address.
    let arm64 = base.platform("linux/arm64/v8").digest.clone();
    b.click("#index-entries .index-entry:nth-child(2) button.choose");
    b.wait_for_text("#base-digest", &arm64);
    let platform = b.eval("return new URLSearchParams(location.search).get('platform');");
    assert_eq!(platform.as_str(), Some("linux/arm64/v8"));

    // Layer 1's files, as `layerize ls` lists them.
    let listed = ok(&["ls", "--layer", "1", "--json", "--platform", "linux/arm64/v8", reference]);
    let count = listed.lines().count() as u64;
    assert!(count > 0);
    b.click("#base-layers tbody tr:nth-child(1) button.layer-files-button");
    b.wait_done("#layer-files-count");
    assert_eq!(b.wait_text("#layer-files-count"), count.to_string());
    // The list is virtualised: at most the rows in view and a margin of 10 above and below.
    b.wait_count("#layer-files .layer-file", count.min(40));
    let first: Value = serde_json::from_str(listed.lines().next().unwrap_or_default()).expect("JSON");
    assert_eq!(texts(&b, "#layer-files .layer-file .path").first().map(String::as_str), first["path"].as_str());
    b.screenshot("layer-files");
}

#[test]
fn page_opens_a_shared_address() {
    let (_registry, base, server) = index_fixture();
    let arm64 = base.platform("linux/arm64/v8").digest.clone();
    let mut b = Browser::start("inspect-shared");
    b.goto(&format!("{}/?image={}&platform=linux/arm64/v8", server.url().trim_end_matches('/'), base.reference));
    b.wait_for_text("#base-digest", &arm64);
    assert_eq!(b.wait_text("#base-platform"), "linux/arm64/v8");
    assert_eq!(b.eval("return document.getElementById('base-ref').value;").as_str(), Some(base.reference.as_str()));
    let config = ok(&["inspect", "--config", "--platform", "linux/arm64/v8", &base.reference]);
    assert_eq!(b.wait_text("#raw-config-digest"), sha256_digest(config.as_bytes()));
    b.screenshot("shared");
}

#[test]
fn page_lists_a_big_layer_virtualised() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Oci);
    let dir = tempfile::tempdir().expect("temp dir");
    for i in 0..600 {
        std::fs::write(dir.path().join(format!("f{i:04}.txt")), format!("{i}\n")).expect("write");
    }
    let reference = registry.reference("many:1");
    let src = format!("{}:/many", dir.path().display());
    ok(&["append", &registry.reference("base:1"), "-f", &src, "-t", &reference, "-q"]);
    let listed = ok(&["ls", "--layer", "2", "--json", &reference]);
    let paths: Vec<String> = listed
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON")["path"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(paths.len() > 600, "{}", paths.len());

    let server = Server::start(&[registry.host()]);
    let mut b = Browser::start("inspect-virtualised");
    b.goto(&format!("{}/?image={reference}", server.url()));
    b.click("#base-layers tbody tr:nth-child(2) button.layer-files-button");
    b.wait_done("#layer-files-count");
    assert_eq!(b.wait_text("#layer-files-count"), paths.len().to_string());
    // Only the rows in view (and a margin) are in the DOM, whatever the layer holds.
    b.wait_count("#layer-files .layer-file", 40);
    assert_eq!(texts(&b, "#layer-files .layer-file .path").first(), paths.first());
    b.eval("const l = document.getElementById('layer-files'); l.scrollTop = l.scrollHeight; l.dispatchEvent(new Event('scroll')); return null;");
    let last = paths.last().cloned().unwrap_or_default();
    b.wait_until(
        "const r = document.querySelectorAll('#layer-files .layer-file .path'); return r.length ? r[r.length - 1].textContent.trim() : '';",
        &Value::from(last.as_str()),
        "the last entry after scrolling to the end",
    );
    b.screenshot("scrolled");
}

/// Lists layer 1 of a token-auth registry's image in the page served with `flags`, and checks
/// it against `layerize ls`. The page is never cross-origin isolated: the worker reads a
/// layer straight off its download, with no shared memory (see web/src/remote_layer.rs).
fn lists_from_a_token_registry(name: &str, flags: &[&str]) {
    let registry = Registry::start(RegistryAuth::token("lister", "list-secret"));
    let base = push_single(&registry, "base:1", Format::Docker);
    let listed = layerize(
        &["ls", "--layer", "1", "--json", "--username", "lister", "--password-stdin", &base.reference],
        Some("list-secret\n"),
        None,
    )
    .ok();
    let issuer = registry.token_issuer().expect("token issuer");
    let realm = issuer.realm();
    let realm_host = realm.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or_default().to_owned();
    let server = Server::start_with(&[registry.host(), realm_host], flags);
    let mut b = Browser::start(name);
    b.goto(&server.url());
    assert_eq!(b.eval("return self.crossOriginIsolated;"), Value::from(false), "cross-origin isolated");
    b.fill("#login-registry", &registry.host());
    b.fill("#login-username", "lister");
    b.fill("#login-password", "list-secret");
    b.fill("#base-ref", &base.reference);
    b.click("#base-load");
    assert_eq!(b.wait_text("#base-digest"), base.digest);
    b.click("#base-layers tbody tr:nth-child(1) button.layer-files-button");
    assert_eq!(
        b.wait_done("#layer-files-count"),
        listed.lines().count().to_string(),
        "the page lists what the CLI lists"
    );
    let status = b.wait_text("#layer-files-status");
    assert!(status.starts_with("complete"), "{status}");
    let first: Value = serde_json::from_str(listed.lines().next().expect("a member")).expect("JSON");
    assert_eq!(texts(&b, "#layer-files .layer-file .path").first().map(String::as_str), first["path"].as_str());
    b.screenshot("listed");
}

#[test]
fn page_lists_a_layer_from_a_token_registry_while_it_downloads() {
    lists_from_a_token_registry("inspect-token", &[]);
}

/// `--no-isolation` (kept for deployments that pass it) changes nothing.
#[test]
fn page_lists_a_layer_without_shared_memory() {
    lists_from_a_token_registry("inspect-token-range", &["--no-isolation"]);
}
