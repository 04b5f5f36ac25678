//! `layerize append` against the real registry, judged by skopeo, umoci, podman and Docker.

use std::fs;

use layerize_tests::oci_layout::sha256_digest;
use layerize_tests::readers;
use layerize_tests::{push_index, push_single, Dockerd, Format, Registry, RegistryAuth};
use serde_json::Value;

use crate::cli::{layerize, pushed_digest};
use crate::files::{mode, AppFiles, HELLO, SCRIPT};

const USER: &str = "pusher";
const PASSWORD: &str = "s3cret-Pa55word";

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("JSON")
}

/// Builds the same layer offline, to compare digests with what was pushed.
fn offline_layer(files: &AppFiles) -> Value {
    let out = files.dir.path().join("offline.tar.gz");
    let mut args: Vec<String> = vec!["layer".into()];
    args.extend(files.args());
    args.extend(["--delete".into(), "/etc/motd".into(), "-o".into(), out.display().to_string(), "--json".into()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    json(layerize(&argv, None, None).ok().as_bytes())
}

/// Runs the README's append; returns the pushed digest.
fn append(
    registry: &Registry,
    base: &str,
    target: &str,
    files: &AppFiles,
    extra: &[&str],
    password: Option<&str>,
) -> String {
    let base = registry.reference(base);
    let target = registry.reference(target);
    let mut args: Vec<String> = vec!["append".into(), base];
    args.extend(files.args());
    args.extend(["--delete".into(), "/etc/motd".into(), "-t".into(), target.clone()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    if password.is_some() {
        args.extend(["--username".into(), USER.into(), "--password-stdin".into()]);
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = layerize(&argv, password, None);
    if let Some(p) = password {
        assert!(!run.stderr.contains(p) && !run.stdout.contains(p), "the password leaked into the output");
    }
    let stdout = run.ok();
    let name = target.rsplit_once(':').map(|(n, _)| n).unwrap_or(&target);
    pushed_digest(&stdout, name)
}

/// What every appended single-platform image must satisfy, read by independent tools.
fn check_image(registry: &Registry, reference: &str, digest: &str, files: &AppFiles, layer_media_type: &str) {
    let raw = readers::skopeo_inspect_raw(registry, reference);
    assert_eq!(sha256_digest(&raw), digest, "the tag serves the pushed manifest");
    let manifest = json(&raw);
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 2, "base layer + new layer");
    assert_eq!(layers[1]["mediaType"], layer_media_type);
    let offline = offline_layer(files);
    assert_eq!(layers[1]["digest"], offline["digest"], "the pushed layer is byte-identical to `layerize layer`");
    assert_eq!(layers[1]["size"], offline["size"]);

    let config = json(&readers::skopeo_inspect_config(registry, reference));
    let ids = config["rootfs"]["diff_ids"].as_array().expect("diff_ids");
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[1], offline["diff_id"]);
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/bin/sh"]), "base config fields are kept");
    let history = config["history"].as_array().expect("history");
    assert!(history.last().and_then(|h| h["created_by"].as_str()).is_some_and(|s| s.starts_with("layerize append")));
    assert_eq!(history.last().map(|h| h["comment"].clone()), Some("layerize gzip profile 2".into()));

    let oci = readers::skopeo_copy_to_oci(registry, reference);
    assert_eq!(readers::diff_ids_match(oci.path()), 1);
    let rootfs = readers::umoci_unpack(oci.path(), oci.tag());
    let root = rootfs.path();
    assert_eq!(fs::read_to_string(root.join("opt/app/hello.txt")).expect("hello.txt"), HELLO);
    assert_eq!(fs::read_to_string(root.join("opt/app/conf/settings.ini")).expect("settings"), "[main]\nanswer = 42\n");
    assert_eq!(fs::read_link(root.join("opt/app/greeting")).expect("link").to_str(), Some("hello.txt"));
    assert_eq!(fs::read_to_string(root.join("usr/local/bin/run.sh")).expect("run.sh"), SCRIPT);
    assert_eq!(mode(&root.join("usr/local/bin/run.sh")), 0o755);
    assert_eq!(mode(&root.join("opt/app/hello.txt")), 0o644);
    assert!(!root.join("etc/motd").exists(), "--delete /etc/motd removed it");
    assert!(root.join("bin/busybox").exists(), "base files are still there");
}

#[test]
fn anonymous_oci_base_to_new_repo() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Oci);
    let files = AppFiles::new();
    let digest = append(&registry, "base:1", "app:1", &files, &[], None);
    check_image(&registry, "app:1", &digest, &files, "application/vnd.oci.image.layer.v1.tar+gzip");
    readers::podman_pull(&registry, &format!("app@{digest}"));
    // The base blobs were mounted, not uploaded again.
    assert!(registry.log().contains("mount"), "no cross-repository mount in the registry log");
}

/// `--gzip-profile 1` builds the layer as before profile 2 existed and leaves the history
/// entry without a comment, as before; the default names profile 2 in it.
#[test]
fn the_gzip_profile_is_chosen_and_named_in_the_history() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Oci);
    let files = AppFiles::new();
    let fixed = ["--created", "2024-02-03T04:05:06Z", "--history", "add app"];
    let mut configs = Vec::new();
    for (profile, comment) in [("1", Value::Null), ("2", Value::from("layerize gzip profile 2"))] {
        let target = format!("app:v{profile}");
        let digest =
            append(&registry, "base:1", &target, &files, &[&fixed[..], &["--gzip-profile", profile]].concat(), None);
        let raw = readers::skopeo_inspect_raw(&registry, &target);
        assert_eq!(sha256_digest(&raw), digest);
        let config = json(&readers::skopeo_inspect_config(&registry, &target));
        let last = config["history"].as_array().and_then(|h| h.last()).cloned().expect("history");
        assert_eq!(last["comment"], comment, "profile {profile}");
        assert_eq!(last["created_by"], "add app");
        let out = files.dir.path().join(format!("v{profile}.tar.gz")).display().to_string();
        let mut args: Vec<String> = vec!["layer".into(), "--gzip-profile".into(), profile.into()];
        args.extend(files.args());
        args.extend(["--delete".into(), "/etc/motd".into(), "-o".into(), out, "--json".into()]);
        let offline = json(layerize(&args.iter().map(String::as_str).collect::<Vec<_>>(), None, None).ok().as_bytes());
        assert_eq!(json(&raw)["layers"][1]["digest"], offline["digest"], "profile {profile}");
        configs.push(config);
    }
    let strip = |mut c: Value| {
        c["history"]
            .as_array_mut()
            .and_then(|h| h.last_mut())
            .and_then(Value::as_object_mut)
            .map(|h| h.remove("comment"));
        c
    };
    let [one, two] = <[Value; 2]>::try_from(configs).expect("two configs");
    assert_eq!(strip(one), strip(two), "the profiles' configs differ only by the comment");
}

#[test]
fn htpasswd_docker_base_runs_in_docker() {
    let registry = Registry::start(RegistryAuth::htpasswd(USER, PASSWORD));
    push_single(&registry, "base:1", Format::Docker);
    let files = AppFiles::new();
    let digest = append(
        &registry,
        "base:1",
        "app:1",
        &files,
        &[
            "--created",
            "2024-02-03T04:05:06Z",
            "--history",
            "add app",
            "--env",
            "MODE=prod",
            "--workdir",
            "/opt/app",
            "--label",
            "org.example.team=web",
            "--cmd",
            r#"["sh","-c","echo cmd ran"]"#,
        ],
        Some(PASSWORD),
    );
    let raw = readers::skopeo_inspect_raw(&registry, "app:1");
    assert_eq!(sha256_digest(&raw), digest);
    let manifest = json(&raw);
    assert_eq!(manifest["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
    assert_eq!(manifest["layers"][1]["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip");
    let config = json(&readers::skopeo_inspect_config(&registry, "app:1"));
    assert_eq!(config["created"], "2024-02-03T04:05:06Z");
    assert_eq!(config["config"]["WorkingDir"], "/opt/app");
    assert_eq!(config["config"]["Labels"]["org.example.team"], "web");
    assert!(config["config"]["Env"]
        .as_array()
        .is_some_and(|e| e.iter().any(|v| v == "MODE=prod")
            && e.iter().any(|v| v.as_str().is_some_and(|s| s.starts_with("PATH=")))));
    assert_eq!(
        config["history"].as_array().and_then(|h| h.last()).map(|h| h["created_by"].clone()),
        Some("add app".into())
    );
    let oci = readers::skopeo_copy_to_oci(&registry, "app:1");
    assert_eq!(readers::diff_ids_match(oci.path()), 1);
    readers::podman_pull(&registry, "app:1");

    let docker = Dockerd::start();
    docker.login(&registry.host(), USER, PASSWORD);
    let image = registry.reference(&format!("app@{digest}"));
    docker.pull(&image);
    assert_eq!(docker.run(&image, &["cat", "/opt/app/hello.txt"]), HELLO);
    assert_eq!(docker.run(&image, &[]), "cmd ran\n", "the new default command runs");
    assert_eq!(docker.run(&image, &["sh", "-c", "echo $MODE $(pwd)"]), "prod /opt/app\n");
    assert_eq!(docker.run(&image, &["/usr/local/bin/run.sh"]), "run.sh ran\n");
    assert_eq!(docker.run(&image, &["sh", "-c", "test -e /etc/motd && echo present || echo gone"]), "gone\n");
}

#[test]
fn token_auth_with_credentials_from_docker_config() {
    let registry = Registry::start(RegistryAuth::token(USER, PASSWORD));
    push_single(&registry, "team/base:1", Format::Oci);
    let issuer = registry.token_issuer().expect("token registry has an issuer");
    let before = issuer.tokens_issued();
    let files = AppFiles::new();

    let config_dir = tempfile::tempdir().expect("temp dir");
    let auth = base64_encode(&format!("{USER}:{PASSWORD}"));
    fs::write(
        config_dir.path().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.host()),
    )
    .expect("write config");
    let target = registry.reference("team/app:2");
    let mut args = vec!["append".to_owned(), registry.reference("team/base:1")];
    args.extend(files.args());
    args.extend(["--delete".into(), "/etc/motd".into(), "-t".into(), target.clone()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = layerize(&argv, None, Some(config_dir.path()));
    assert!(!run.stderr.contains(PASSWORD));
    let digest = pushed_digest(&run.ok(), &registry.reference("team/app"));
    assert!(issuer.tokens_issued() > before, "the registry's token issuer was used");
    let scopes = issuer.granted_scopes();
    assert!(scopes.iter().any(|s| s == "repository:team/app:pull,push"), "push scope granted: {scopes:?}");
    assert!(scopes.iter().any(|s| s == "repository:team/base:pull"), "pull scope on the mount source: {scopes:?}");
    check_image(&registry, "team/app:2", &digest, &files, "application/vnd.oci.image.layer.v1.tar+gzip");
}

#[test]
fn platform_from_an_index_and_all_platforms() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_index(&registry, "multi:1", Format::Oci);
    let files = AppFiles::new();

    let digest = append(&registry, "multi:1", "arm:1", &files, &["--platform", "linux/arm64"], None);
    let config = json(&readers::skopeo_inspect_config(&registry, &format!("arm@{digest}")));
    assert_eq!(config["architecture"], "arm64");
    let manifest = json(&readers::skopeo_inspect_raw(&registry, "arm:1"));
    assert!(manifest["layers"].is_array(), "a single image, not an index");
    let arm_base =
        json(&readers::skopeo_inspect_raw(&registry, &format!("multi@{}", base.platform("linux/arm64/v8").digest)));
    assert_eq!(manifest["layers"][0], arm_base["layers"][0], "built on the arm64 image");

    let digest = append(&registry, "multi:1", "all:1", &files, &["--all-platforms"], None);
    let raw = readers::skopeo_inspect_raw(&registry, "all:1");
    assert_eq!(sha256_digest(&raw), digest);
    let index = json(&raw);
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let entries = index["manifests"].as_array().expect("manifests");
    let platforms: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["platform"]["os"].as_str().unwrap_or("?"),
                e["platform"]["architecture"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"], "images kept in order; the stale attestation dropped");
    let oci = readers::skopeo_copy_all_to_oci(&registry, "all:1");
    assert_eq!(readers::diff_ids_match(oci.path()), 2, "both images verified");
    for entry in entries {
        let m = json(&readers::skopeo_inspect_raw(
            &registry,
            &format!("all@{}", entry["digest"].as_str().unwrap_or_default()),
        ));
        assert_eq!(m["layers"].as_array().map(Vec::len), Some(2));
    }
}

#[test]
fn docker_manifest_list_all_platforms_and_cross_registry_copy() {
    let source = Registry::start(RegistryAuth::Anonymous);
    let target = Registry::start(RegistryAuth::htpasswd(USER, PASSWORD));
    push_index(&source, "list:1", Format::Docker);
    let files = AppFiles::new();
    let mut args = vec!["append".to_owned(), source.reference("list:1")];
    args.extend(files.args());
    args.extend([
        "--all-platforms".into(),
        "-t".into(),
        target.reference("copied:1"),
        "--username".into(),
        USER.into(),
        "--password-stdin".into(),
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = layerize(&argv, Some(PASSWORD), None);
    assert!(run.stderr.contains("uploaded"), "base blobs are copied across registries:\n{}", run.stderr);
    let digest = pushed_digest(&run.ok(), &target.reference("copied"));
    let raw = readers::skopeo_inspect_raw(&target, "copied:1");
    assert_eq!(sha256_digest(&raw), digest);
    assert_eq!(json(&raw)["mediaType"], "application/vnd.docker.distribution.manifest.list.v2+json");
    let oci = readers::skopeo_copy_all_to_oci(&target, "copied:1");
    assert_eq!(readers::diff_ids_match(oci.path()), 2);
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
