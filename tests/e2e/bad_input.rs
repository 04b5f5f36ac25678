//! Bad input: a clear error naming it, exit status 1, never a panic, and nothing pushed or
//! half-written.

use std::process::Command;

use layerize_tests::tool::run;
use layerize_tests::{free_port, http, push_index, push_single, Format, Registry, RegistryAuth};

use crate::cli::layerize;
use crate::files::AppFiles;

/// Whether the repository exists on the registry at all (a manifest was ever pushed to it).
pub(crate) fn has_tags(registry: &Registry, repository: &str) -> bool {
    let url = format!("{}/v2/{repository}/tags/list", registry.url());
    let headers: Vec<(String, String)> = registry
        .credentials()
        .map(|(u, p)| vec![("Authorization".to_owned(), format!("Basic {}", b64(&format!("{u}:{p}"))))])
        .unwrap_or_default();
    let h: Vec<(&str, &str)> = headers.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    http::get(&url, &h).map(|r| r.status == 200).unwrap_or(false)
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn append_args(base: &str, target: &str, files: &[String]) -> Vec<String> {
    let mut args = vec!["append".to_owned(), base.to_owned()];
    args.extend(files.iter().cloned());
    args.extend(["-t".to_owned(), target.to_owned()]);
    args
}

fn run_append(args: &[String], stdin: Option<&str>) -> String {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    layerize(&argv, stdin, None).fails()
}

#[test]
fn errors_name_the_input_and_push_nothing() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Oci);
    push_index(&registry, "multi:1", Format::Oci);
    let files = AppFiles::new();
    let base = registry.reference("base:1");
    let target = registry.reference("out:1");

    // A missing file.
    let e = run_append(&append_args(&base, &target, &["-f".into(), "/no/such/app:/opt/app".into()]), None);
    assert!(e.contains("/no/such/app"), "{e}");

    // A bad reference, base or target.
    let e = run_append(&append_args("Not/A:Ref:", &target, &files.args()), None);
    assert!(e.contains("\"Not/A:Ref:\""), "{e}");
    let e = run_append(&append_args(&base, "127.0.0.1:5000/UPPER:1", &files.args()), None);
    assert!(e.contains("lowercase"), "{e}");

    // An unknown platform.
    let mut args = append_args(&registry.reference("multi:1"), &target, &files.args());
    args.extend(["--platform".into(), "linux/s390x".into()]);
    let e = run_append(&args, None);
    assert!(e.contains("linux/s390x") && e.contains("linux/amd64, linux/arm64/v8"), "{e}");
    let mut args = append_args(&registry.reference("multi:1"), &target, &files.args());
    args.extend(["--platform".into(), "linux".into()]);
    assert!(run_append(&args, None).contains("invalid platform \"linux\""));

    // A base that does not exist.
    let e = run_append(&append_args(&registry.reference("base:404"), &target, &files.args()), None);
    assert!(e.contains("base:404") && e.contains("not found"), "{e}");

    // A bad --created.
    let mut args = append_args(&base, &target, &files.args());
    args.extend(["--created".into(), "yesterday".into()]);
    assert!(run_append(&args, None).contains("\"yesterday\""));

    assert!(!has_tags(&registry, "out"), "nothing may be pushed after bad input");
}

#[test]
fn wrong_password_is_refused_without_echoing_it() {
    let registry = Registry::start(RegistryAuth::htpasswd("alice", "right-password"));
    push_single(&registry, "base:1", Format::Oci);
    let files = AppFiles::new();
    let mut args = append_args(&registry.reference("base:1"), &registry.reference("out:1"), &files.args());
    args.extend(["--username".into(), "alice".into(), "--password-stdin".into()]);
    let e = run_append(&args, Some("Wr0ng-Pa55-xyz\n"));
    assert!(e.contains(&registry.host()) && e.contains("wrong username or password"), "{e}");
    assert!(!e.contains("Wr0ng-Pa55-xyz"), "password echoed: {e}");
    assert!(!has_tags(&registry, "out"));

    // The token flow refuses it at the issuer, again without echoing it.
    let token = Registry::start(RegistryAuth::token("alice", "right-password"));
    push_single(&token, "base:1", Format::Oci);
    let mut args = append_args(&token.reference("base:1"), &token.reference("out:1"), &files.args());
    args.extend(["--username".into(), "alice".into(), "--password-stdin".into()]);
    let e = run_append(&args, Some("Wr0ng-Pa55-xyz"));
    assert!(e.contains("wrong username or password"), "{e}");
    assert!(!e.contains("Wr0ng-Pa55-xyz"), "password echoed: {e}");
}

#[test]
fn registry_down_is_named() {
    let port = free_port();
    let files = AppFiles::new();
    let e = run_append(
        &append_args(&format!("127.0.0.1:{port}/base:1"), &format!("127.0.0.1:{port}/out:1"), &files.args()),
        None,
    );
    assert!(e.contains(&format!("127.0.0.1:{port}")) && e.contains("cannot reach registry"), "{e}");
}

#[test]
fn an_artifact_base_is_refused() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    // A Helm-chart-like OCI artifact, pushed with curl: a manifest whose config is not an
    // image config.
    let config = br#"{"name":"chart","version":"1.0.0"}"#;
    let config_digest = layerize_tests::oci_layout::sha256_digest(config);
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, config).expect("write");
    run(Command::new("curl")
        .args(["-fsS", "-X", "POST", "-o", "/dev/null", "-D"])
        .arg(dir.path().join("h"))
        .arg(format!("{}/v2/chart/blobs/uploads/", registry.url())));
    let headers = std::fs::read_to_string(dir.path().join("h")).expect("headers");
    let location = headers
        .lines()
        .find_map(|l| l.strip_prefix("Location: ").or_else(|| l.strip_prefix("location: ")))
        .expect("Location")
        .trim()
        .to_owned();
    let sep = if location.contains('?') { '&' } else { '?' };
    run(Command::new("curl")
        .args(["-fsS", "-X", "PUT", "-H", "Content-Type: application/octet-stream", "--data-binary"])
        .arg(format!("@{}", config_path.display()))
        .arg(format!("{location}{sep}digest={config_digest}")));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    run(Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.manifest.v1+json",
            "--data-binary",
            &manifest,
        ])
        .arg(format!("{}/v2/chart/manifests/1", registry.url())));

    let files = AppFiles::new();
    let e = run_append(&append_args(&registry.reference("chart:1"), &registry.reference("out:1"), &files.args()), None);
    assert!(e.contains("application/vnd.cncf.helm.config.v1+json") && e.contains("not a container image"), "{e}");
    assert!(!has_tags(&registry, "out"));
}

#[test]
fn a_failed_layer_build_leaves_no_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("layer.tar.gz");
    let e = layerize(&["layer", "-f", "/no/such/dir:/x", "-o", &out.display().to_string()], None, None).fails();
    assert!(e.contains("/no/such/dir"), "{e}");
    let e = layerize(&["layer", "-o", &out.display().to_string()], None, None).fails();
    assert!(e.contains("nothing to put in the layer"), "{e}");
    let e = layerize(
        &["layer", "-f", &format!("{}:/x/../../etc", dir.path().display()), "-o", &out.display().to_string()],
        None,
        None,
    )
    .fails();
    assert!(e.contains("`..` is not allowed"), "{e}");
    // A source that changes while it is read fails mid-write: the temp file must go too.
    let e =
        layerize(&["layer", "-f", "/proc/self/status:/status", "-o", &out.display().to_string()], None, None).fails();
    assert!(e.contains("/status") && e.contains("its size changed while it was read") && e.contains("0 bytes when listed"), "{e}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
