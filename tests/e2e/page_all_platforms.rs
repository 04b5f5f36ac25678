//! "All platforms of this index" in the page: the layer built once, every image's config and
//! manifest rewritten, a new index pushed, and the same index from `layerize append
//! --all-platforms` run as the page shows it.

use std::fs;
use std::process::Command;

use layerize_tests::browser::Browser;
use layerize_tests::oci_layout::sha256_digest;
use layerize_tests::readers;
use layerize_tests::server::Server;
use layerize_tests::{push_index, Format, Registry, RegistryAuth};
use serde_json::Value;

#[test]
fn page_all_platforms_of_an_index() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_index(&registry, "multi:1", Format::Oci);
    let server = Server::start(&[registry.host()]);
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir_all(dir.path().join("app")).expect("mkdir");
    fs::write(dir.path().join("app/hello.txt"), "on every platform\n").expect("write");

    let mut b = Browser::start("all-platforms");
    b.goto(&server.url());
    b.fill("#base-ref", &base.reference);
    b.click("#base-load");
    assert_eq!(b.wait_text("#index-digest"), base.digest);
    b.wait_text("#base-digest");
    b.click("#all-platforms");
    b.pick("#folder-input", &dir.path().join("app"));
    b.wait_count("#rows tr.file-row", 1);
    b.click("#build-button");
    let layer = b.wait_text("#blob-digest");
    let index = b.wait_text("#new-index-digest");
    let images = b.eval("return document.querySelectorAll('#build-result .new-platform-manifest').length;");
    let platforms = base.manifests.iter().filter(|m| m.platform != "unknown/unknown").count();
    assert_eq!(images, Value::from(platforms as u64), "one new manifest per image of the index");
    let command = b.wait_text("#cli-command");
    assert!(command.contains("--all-platforms") && !command.contains("--platform "), "{command}");
    b.screenshot("built-all");

    b.fill("#target-ref", &registry.reference("all-page:1"));
    b.click("#push-button");
    let pushed = b.wait_text("#push-result");
    assert_eq!(pushed, format!("{}@{index}", registry.reference("all-page")), "the index shown is the one pushed");
    b.screenshot("pushed-all");

    // The CLI, run as the page shows it, pushes the same index.
    let target = registry.reference("all-cli:1");
    let script = command
        .replacen("layerize append", &format!("{} append", layerize_tests::layerize().display()), 1)
        .replace("-t TARGET", &format!("-t {target} --quiet"));
    let empty = tempfile::tempdir().expect("temp dir");
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("DOCKER_CONFIG", empty.path())
        .output()
        .expect("sh");
    assert!(out.status.success(), "{script}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("{}@{index}", registry.reference("all-cli")));

    let page_raw = readers::skopeo_inspect_raw(&registry, "all-page:1");
    let cli_raw = readers::skopeo_inspect_raw(&registry, "all-cli:1");
    assert_eq!(page_raw, cli_raw, "skopeo reads the same index from both");
    assert_eq!(sha256_digest(&page_raw), index);
    let parsed: Value = serde_json::from_slice(&page_raw).expect("JSON");
    let entries = parsed["manifests"].as_array().expect("manifests");
    assert_eq!(entries.len(), platforms, "attestations of replaced images are dropped");
    for entry in entries {
        let digest = entry["digest"].as_str().expect("digest");
        let raw = readers::skopeo_inspect_raw(&registry, &format!("all-page@{digest}"));
        let manifest: Value = serde_json::from_slice(&raw).expect("JSON");
        let last = manifest["layers"].as_array().and_then(|l| l.last()).map(|l| l["digest"].clone());
        assert_eq!(last, Some(Value::from(layer.clone())), "{} lists the new layer", entry["platform"]);
    }
}
