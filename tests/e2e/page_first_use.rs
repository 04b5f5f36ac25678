//! What a first-time user trips over, tried in Chromium as one would: a failed push explained
//! under the Push button (the fix first, each URL once, the banner still there), a login per
//! registry, removable deletions, pickers that say what they pick, a layer's files opened
//! under its row and closed again, readable sizes, the push's elapsed time, the pushed name
//! as the save name, and a `layerize append` command that gives the page's image when run as
//! shown.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use layerize_tests::browser::Browser;
use layerize_tests::server::Server;
use layerize_tests::{push_single, readers, Format, Registry, RegistryAuth};
use serde_json::Value;

/// A folder `app/` with one file, and `run.sh` beside it, executable on disk.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir_all(dir.path().join("app")).expect("mkdir");
    fs::write(dir.path().join("app/hello.txt"), "hello from a first-time user\n").expect("write");
    let script = dir.path().join("run.sh");
    fs::write(&script, "#!/bin/sh\necho hi\n").expect("write");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// Loads `base`, picks the tree's folder and script and builds; the page shows the layer then.
fn build(b: &Browser, base: &str, dir: &std::path::Path) {
    b.fill("#base-ref", base);
    b.click("#base-load");
    b.wait_text("#base-digest");
    b.pick("#folder-input", &dir.join("app"));
    b.pick("#file-input", &dir.join("run.sh"));
    b.wait_count("#rows tr.file-row", 2);
    b.click("#build-button");
    b.wait_text("#blob-digest");
}

fn value(b: &Browser, css: &str) -> String {
    b.eval(&format!("return document.querySelector({css:?})?.value ?? '';")).as_str().unwrap_or_default().to_owned()
}

/// Waits for the error line of a section and returns it.
fn section_error(b: &Browser, id: &str) -> String {
    let script = format!("return document.getElementById({id:?})?.textContent ?? '';");
    for _ in 0..600 {
        if let Some(text) = b.eval(&script).as_str().filter(|t| !t.is_empty()) {
            return text.to_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("#{id} never showed; banner: {}", b.page_error());
}

#[test]
fn page_push_failure_shows_under_the_push_button() {
    let base_registry = Registry::start(RegistryAuth::Anonymous);
    let refused = Registry::start(RegistryAuth::Anonymous);
    let base = push_single(&base_registry, "base:1", Format::Oci);
    let server = Server::start(&[base_registry.host()]);
    let dir = tree();
    let mut b = Browser::start("first-use-push-error");
    b.goto(&server.url());
    build(&b, &base.reference, dir.path());
    b.fill("#target-ref", &refused.reference("app:1"));
    b.click("#push-button");
    let shown = section_error(&b, "push-error");
    b.screenshot("push-refused");
    let fix = format!("--allow-registry {}", refused.host());
    assert!(shown.starts_with("To allow this registry") && shown.contains(&fix), "the fix comes first: {shown}");
    let url = format!("http://{}/v2/", refused.host());
    assert_eq!(shown.matches(&url).count(), 1, "the URL once: {shown}");
    assert!(shown.find(&fix) < shown.find(&url), "fix before URL: {shown}");
    assert!(b.page_error().contains(&fix), "the banner stays: {}", b.page_error());
    // The banner is kept in view: it sticks to the top of the window.
    let position = b.eval("return getComputedStyle(document.getElementById('error')).position;");
    assert_eq!(position, Value::from("sticky"));
    // The push's elapsed time shows, stopped.
    let elapsed = b.eval(
        "const e = document.getElementById('push-elapsed'); return e ? [e.textContent, e.dataset.running] : null;",
    );
    let text = elapsed[0].as_str().unwrap_or_default();
    assert!(text.ends_with(" s") && text.trim_end_matches(" s").parse::<f64>().is_ok(), "{elapsed}");
    assert_eq!(elapsed[1], Value::from("false"));
    // Another section's action failing does not show under Push.
    b.click("#error .dismiss");
    assert_eq!(b.eval("return !!document.getElementById('push-error');"), Value::from(false));
}

#[test]
fn page_logins_per_registry_and_the_pushed_name() {
    let base_registry = Registry::start(RegistryAuth::htpasswd("base-user", "base-secret"));
    let target = Registry::start(RegistryAuth::htpasswd("target-user", "target-secret"));
    let base = push_single(&base_registry, "base:1", Format::Oci);
    let server = Server::start(&[base_registry.host(), target.host()]);
    let dir = tree();
    let mut b = Browser::start("first-use-logins");
    b.goto(&server.url());
    b.fill("#login-registry", &base_registry.host());
    b.fill("#login-username", "base-user");
    b.fill("#login-password", "base-secret");
    b.click("#login-add");
    b.wait_count("#login .login-row", 2);
    let second = "#login .login-row:nth-of-type(2)";
    b.fill(&format!("{second} .login-registry"), &target.host());
    b.fill(&format!("{second} .login-username"), "target-user");
    b.fill(&format!("{second} .login-password"), "wrong");
    assert_eq!(value(&b, "#login-registry"), base_registry.host(), "adding a row keeps the first");
    build(&b, &base.reference, dir.path());

    let reference = target.reference("app:1");
    b.fill("#target-ref", &reference);
    b.click("#push-button");
    let shown = section_error(&b, "push-error");
    assert!(shown.starts_with(&format!("Check the login for {}", target.host())), "{shown}");
    b.screenshot("wrong-password");

    b.fill(&format!("{second} .login-password"), "target-secret");
    b.click("#error .dismiss");
    b.click("#push-button");
    let pushed = b.wait_text("#push-result");
    assert!(pushed.starts_with(&format!("{}@sha256:", target.reference("app"))), "{pushed}");
    b.screenshot("pushed");
    // The save section now offers the pushed name for the built image.
    b.wait_until(
        "return document.getElementById('save-name')?.value ?? '';",
        &Value::from(reference.clone()),
        "save name",
    );
    assert_eq!(b.eval("return document.getElementById('save-built').checked;"), Value::from(true));

    // Removing a login row forgets it: the next push is refused.
    b.click(&format!("{second} .login-remove"));
    b.wait_count("#login .login-row", 1);
    b.fill("#target-ref", &target.reference("app:2"));
    b.click("#push-button");
    let shown = section_error(&b, "push-error");
    assert!(shown.starts_with(&format!("Check the login for {}", target.host())), "{shown}");
}

#[test]
fn page_small_things_a_new_user_meets() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_single(&registry, "base:1", Format::Oci);
    let server = Server::start(&[registry.host()]);
    let dir = tree();
    let mut b = Browser::start("first-use-small");
    b.goto(&server.url());

    // The pickers say what they pick; the inputs' own "Choose Files" buttons are hidden.
    assert_eq!(b.wait_text("#folder-picker"), "Choose a folder…");
    assert_eq!(b.wait_text("#file-picker"), "Choose files…");
    let width = b.eval("return document.getElementById('folder-input').getBoundingClientRect().width;");
    assert!(width.as_f64().is_some_and(|w| w <= 1.0), "{width}");

    // Paths to delete can be taken back.
    b.fill("#base-ref", &base.reference);
    b.click("#base-load");
    b.wait_text("#base-digest");
    for path in ["/etc/motd", "/etc/os-release"] {
        b.fill("#delete-path", path);
        b.click("#delete-add");
    }
    b.wait_count("#deletes li", 2);
    b.click("#deletes li:first-child .delete-remove");
    b.wait_count("#deletes li", 1);
    assert_eq!(b.wait_text("#deletes li code"), "/etc/os-release");

    // Sizes read as sizes; the exact count stays in data-bytes.
    b.pick("#folder-input", &dir.path().join("app"));
    b.pick("#file-input", &dir.path().join("run.sh"));
    b.wait_count("#rows tr.file-row", 2);
    let sizes = b.eval(
        "return Array.from(document.querySelectorAll('#rows tr.file-row td.size')).map(c => [c.textContent.trim(), c.dataset.bytes]);",
    );
    assert_eq!(sizes, serde_json::json!([["29 B", "29"], ["18 B", "18"]]));

    // A layer's files open under its row and close again.
    b.click("#base-layers tbody tr.layer-row:nth-child(1) button.layer-files-button");
    b.wait_done("#layer-files-count");
    let placed = b.eval(
        "const p = document.getElementById('layer-files-panel').closest('tr'); \
         return p.classList.contains('layer-files-row') && p.previousElementSibling.classList.contains('layer-row');",
    );
    assert_eq!(placed, Value::from(true), "the listing is the row after its layer");
    let busybox = b.eval(
        "const r = Array.from(document.querySelectorAll('#layer-files .layer-file')).find(r => r.querySelector('.path').textContent.trim() === '/bin/busybox'); \
         return r ? [r.querySelector('.size').textContent.trim(), r.querySelector('.size').dataset.bytes] : null;",
    );
    let (shown, bytes) = (busybox[0].as_str().unwrap_or_default(), busybox[1].as_str().unwrap_or_default());
    assert!(shown.ends_with(" MiB") || shown.ends_with(" KiB"), "{busybox}");
    assert!(bytes.parse::<u64>().is_ok_and(|n| n > 1 << 10), "{busybox}");
    b.screenshot("layer-files-under-row");
    b.click("#layer-files-close");
    b.wait_count("#layer-files-panel", 0);

    // The command shown after a build gives the page's image when run as shown: run.sh is
    // executable on disk but not ticked in the page, and `--chmod` says so.
    b.click("#build-button");
    let manifest = b.wait_text("#new-manifest-digest");
    let command = b.wait_text("#cli-command");
    assert!(command.contains("--chmod /app/run.sh=0644") && command.contains("--delete /etc/os-release"), "{command}");
    assert!(!command.contains("/etc/motd"), "{command}");
    let target = registry.reference("from-command:1");
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
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // The page's own push of the build, for comparing what differs if anything does.
    b.fill("#target-ref", &registry.reference("from-page:1"));
    b.click("#push-button");
    b.wait_text("#push-result");
    let page_config = readers::skopeo_inspect_config(&registry, "from-page:1");
    let cli_config = readers::skopeo_inspect_config(&registry, "from-command:1");
    assert_eq!(String::from_utf8_lossy(&cli_config), String::from_utf8_lossy(&page_config), "configs");
    let page_raw = readers::skopeo_inspect_raw(&registry, "from-page:1");
    let cli_raw = readers::skopeo_inspect_raw(&registry, "from-command:1");
    assert_eq!(String::from_utf8_lossy(&cli_raw), String::from_utf8_lossy(&page_raw), "manifests");
    assert_eq!(
        printed,
        format!("{}@{manifest}", registry.reference("from-command")),
        "the command gives the page's manifest:\n{script}"
    );
}
