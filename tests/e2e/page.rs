//! The page, driven in headless Chromium through the real server and proxy against the real
//! registry: load a base (choosing a platform from an index), pick files, build the layer in
//! the worker, push; then independent readers judge the result, and the layer must be
//! byte-identical to what `layerize layer` makes of the same files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use layerize_tests::browser::Browser;
use layerize_tests::oci_layout::sha256_digest;
use layerize_tests::readers;
use layerize_tests::server::Server;
use layerize_tests::{push_index, push_single, Format, Pushed, Registry, RegistryAuth};
use serde_json::Value;

use crate::cli::layerize;

const USER: &str = "webuser";
const PASSWORD: &str = "Pa55-in-the-page";
/// WebDriver's Tab key: leaving a field fires its change event.
const TAB: &str = "\u{E004}";

/// Files as a person would have them: a folder and a script.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = dir.path().join("app");
        fs::create_dir_all(app.join("conf")).expect("mkdir");
        fs::write(app.join("hello.txt"), "hello from the page\n").expect("write");
        fs::write(app.join("conf/settings.ini"), "[main]\nanswer = 42\n").expect("write");
        let script = dir.path().join("scripts/run.sh");
        fs::create_dir_all(script.parent().expect("parent")).expect("mkdir");
        fs::write(&script, "#!/bin/sh\necho page script ran\n").expect("write");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        Tree { dir }
    }

    fn app(&self) -> std::path::PathBuf {
        self.dir.path().join("app")
    }

    fn script(&self) -> std::path::PathBuf {
        self.dir.path().join("scripts/run.sh")
    }

    /// What the CLI makes of the same files.
    fn cli_layer(&self) -> Value {
        let out = self.dir.path().join("cli.tar.gz");
        let app = format!("{}:/opt/app", self.app().display());
        let script = format!("{}:/usr/local/bin/run.sh", self.script().display());
        let stdout = layerize(
            &["layer", "-f", &app, "-f", &script, "--delete", "/etc/motd", "-o", &out.display().to_string(), "--json"],
            None,
            None,
        )
        .ok();
        serde_json::from_str(&stdout).expect("JSON")
    }
}

fn host_of(url: &str) -> String {
    url.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or_default().to_owned()
}

/// Runs the whole flow in the page, served by a `layerize-server` of the workspace; returns the
/// pushed digest.
fn drive(name: &str, registry: &Registry, base: &Pushed, platform: Option<&str>, target: &str) -> String {
    let mut allow = vec![registry.host()];
    if let Some(issuer) = registry.token_issuer() {
        allow.push(host_of(&issuer.realm()));
    }
    let server = Server::start(&allow);
    drive_at(name, &server.url(), &|| server.log(), registry, base, platform, target)
}

/// The whole flow in the page served at `url` (by any server that allows `registry`), whose log
/// `log` reads; returns the pushed digest.
pub(crate) fn drive_at(
    name: &str,
    url: &str,
    log: &dyn Fn() -> String,
    registry: &Registry,
    base: &Pushed,
    platform: Option<&str>,
    target: &str,
) -> String {
    let tree = Tree::new();
    let mut b = Browser::start(name);
    b.goto(url);
    b.wait_text("h1");
    b.screenshot("opened");

    if let Some((user, password)) = registry.credentials() {
        b.fill("#login-registry", &registry.host());
        b.fill("#login-username", &user);
        b.fill("#login-password", &password);
    }
    b.fill("#base-ref", &base.reference);
    b.click("#base-load");
    let shown = b.wait_text("#base-digest");
    match platform {
        None => assert_eq!(shown, base.digest, "the page shows the base manifest's digest"),
        Some(p) => {
            assert_eq!(b.wait_text("#index-digest"), base.digest);
            let wanted = base.platform(p).digest.clone();
            b.select("#platform", &wanted);
            wait_for(&b, "#base-digest", &wanted);
            assert_eq!(b.wait_text("#base-platform"), p);
        }
    }
    b.screenshot("base-loaded");

    b.fill("#prefix", &format!("/opt{TAB}"));
    b.pick("#folder-input", &tree.app());
    b.pick("#file-input", &tree.script());
    wait_for_count(&b, "#rows tr.file-row", 3);
    b.fill("#rows tr.file-row:last-child input.dest", &format!("/usr/local/bin/run.sh{TAB}"));
    b.click("#rows tr.file-row:last-child input.exec");
    b.fill("#delete-path", "/etc/motd");
    b.click("#delete-add");
    b.click("#settings summary");
    b.fill("#edit-env", "FROM=page");
    b.fill("#edit-workdir", "/opt/app");
    b.screenshot("files-picked");

    b.click("#build-button");
    let digest = b.wait_text("#blob-digest");
    let diff_id = b.wait_text("#diff-id");
    b.screenshot("layer-built");
    let cli = tree.cli_layer();
    assert_eq!(digest, cli["digest"], "the page's layer is byte-identical to the CLI's");
    assert_eq!(diff_id, cli["diff_id"]);
    let command = b.wait_text("#cli-command");
    assert!(command.contains("--delete /etc/motd") && command.contains(":/usr/local/bin/run.sh"), "{command}");

    b.fill("#target-ref", &registry.reference(target));
    b.click("#push-button");
    let pushed = b.wait_text("#push-result");
    b.screenshot("pushed");
    let (name_part, pushed_digest) = pushed.split_once('@').expect("a pinned reference");
    assert_eq!(name_part, registry.reference(target.split(':').next().unwrap_or_default()));

    // Independent readers.
    let raw = readers::skopeo_inspect_raw(registry, target);
    assert_eq!(sha256_digest(&raw), pushed_digest, "the tag serves what the page pushed");
    let manifest: Value = serde_json::from_slice(&raw).expect("JSON");
    assert_eq!(
        manifest["layers"].as_array().and_then(|l| l.last()).map(|l| l["digest"].clone()),
        Some(cli["digest"].clone())
    );
    let config: Value = serde_json::from_slice(&readers::skopeo_inspect_config(registry, target)).expect("JSON");
    assert_eq!(config["config"]["WorkingDir"], "/opt/app");
    assert!(config["config"]["Env"].as_array().is_some_and(|e| e.iter().any(|v| v == "FROM=page")), "{config}");
    assert!(command.contains("--env FROM=page") && command.contains("--workdir /opt/app"), "{command}");
    let oci = readers::skopeo_copy_to_oci(registry, target);
    assert_eq!(readers::diff_ids_match(oci.path()), 1);
    let rootfs = readers::umoci_unpack(oci.path(), oci.tag());
    check_rootfs(rootfs.path());

    if let Some((_, password)) = registry.credentials() {
        assert!(!log().contains(&password), "the server logged the password");
    }
    pushed_digest.to_owned()
}

fn check_rootfs(root: &Path) {
    assert_eq!(fs::read_to_string(root.join("opt/app/hello.txt")).expect("hello"), "hello from the page\n");
    assert_eq!(fs::read_to_string(root.join("opt/app/conf/settings.ini")).expect("ini"), "[main]\nanswer = 42\n");
    let script = root.join("usr/local/bin/run.sh");
    assert_eq!(fs::metadata(&script).expect("run.sh").permissions().mode() & 0o777, 0o755);
    assert!(!root.join("etc/motd").exists());
    assert!(root.join("bin/busybox").exists());
}

fn wait_for(b: &Browser, css: &str, text: &str) {
    let script = format!("const e = document.querySelector({css:?}); return e ? e.textContent.trim() : '';");
    for _ in 0..300 {
        if b.eval(&script).as_str() == Some(text) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{css} never showed {text}; page error: {}", b.page_error());
}

fn wait_for_count(b: &Browser, css: &str, n: u64) {
    let script = format!("return document.querySelectorAll({css:?}).length;");
    for _ in 0..300 {
        if b.eval(&script).as_u64() == Some(n) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("expected {n} of {css}; page error: {}", b.page_error());
}

#[test]
fn page_anonymous_single_platform() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_single(&registry, "base:1", Format::Oci);
    drive("anonymous-single", &registry, &base, None, "from-page:1");
}

#[test]
fn page_htpasswd_platform_from_index() {
    let registry = Registry::start(RegistryAuth::htpasswd(USER, PASSWORD));
    let base = push_index(&registry, "multi:1", Format::Oci);
    let digest = drive("htpasswd-index", &registry, &base, Some("linux/arm64/v8"), "arm-from-page:1");
    let config: Value =
        serde_json::from_slice(&readers::skopeo_inspect_config(&registry, &format!("arm-from-page@{digest}")))
            .expect("JSON");
    assert_eq!(config["architecture"], "arm64");
}

#[test]
fn page_token_auth_docker_base() {
    let registry = Registry::start(RegistryAuth::token(USER, PASSWORD));
    let base = push_single(&registry, "team/base:1", Format::Docker);
    drive("token-docker", &registry, &base, None, "team/from-page:1");
    let issuer = registry.token_issuer().expect("issuer");
    assert!(issuer.granted_scopes().iter().any(|s| s == "repository:team/from-page:pull,push"));
}

#[test]
fn page_shows_errors_in_words() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Oci);
    // This server allows no loopback registry: the proxy must refuse, and the page say so.
    let server = Server::start(&[]);
    let mut b = Browser::start("errors");
    b.goto(&server.url());
    b.fill("#base-ref", "Not A Reference");
    b.click("#base-load");
    let e = b.wait_error();
    assert!(e.contains("invalid image reference \"Not A Reference\""), "{e}");
    b.click("#error .dismiss");
    b.fill("#base-ref", &registry.reference("base:1"));
    b.click("#base-load");
    let e = b.wait_error();
    assert!(e.contains(&registry.host()) && e.contains("403"), "{e}");
    b.screenshot("refused");
}
