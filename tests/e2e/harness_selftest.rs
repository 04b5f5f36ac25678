//! The harness itself: each kind of registry starts and takes every fixture, authentication
//! refuses what it must, the readers read the fixtures back, and dockerd runs one.

use layerize_tests::fixtures::{self, ATTESTATION_PLATFORM, MOTD};
use layerize_tests::oci_layout::sha256_digest;
use layerize_tests::readers;
use layerize_tests::{http, push_index, push_single, Dockerd, Format, Pushed, Registry, RegistryAuth};
use serde_json::Value;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const USER: &str = "layerize";
const PASSWORD: &str = "correct horse";

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("skopeo printed JSON")
}

/// The registry serves exactly what the push reported, and the config is the fixture's.
fn check_single(registry: &Registry, pushed: &Pushed) {
    let raw = readers::skopeo_inspect_raw(registry, &pushed.reference);
    assert_eq!(sha256_digest(&raw), pushed.digest, "{}", pushed.reference);
    let manifest = json(&raw);
    // umoci leaves `mediaType` out of OCI manifests, as the OCI spec allows.
    let media_type = manifest["mediaType"].as_str().unwrap_or(OCI_MANIFEST);
    assert_eq!(media_type, pushed.media_type);
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(1));

    let config_bytes = readers::skopeo_inspect_config(registry, &pushed.reference);
    assert_eq!(sha256_digest(&config_bytes), manifest["config"]["digest"]);
    let config = json(&config_bytes);
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(config["config"]["Env"], serde_json::json!(fixtures::ENV));
}

/// The index lists amd64, arm64/v8 and the attestation, each fetchable by digest.
fn check_index(registry: &Registry, pushed: &Pushed) {
    let raw = readers::skopeo_inspect_raw(registry, &pushed.reference);
    assert_eq!(sha256_digest(&raw), pushed.digest, "{}", pushed.reference);
    let index = json(&raw);
    assert_eq!(index["mediaType"], pushed.media_type.as_str());
    let entries = index["manifests"].as_array().expect("an index has manifests");
    assert_eq!(entries.len(), 3);
    for (entry, expected) in entries.iter().zip(&pushed.manifests) {
        assert_eq!(entry["digest"], expected.digest.as_str());
        assert_eq!(entry["mediaType"], expected.media_type.as_str());
    }
    let platforms: Vec<&str> = pushed.manifests.iter().map(|m| m.platform.as_str()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8", ATTESTATION_PLATFORM]);
    assert_eq!(entries[2]["annotations"]["vnd.docker.reference.type"], "attestation-manifest");

    let arm64 = format!("{}@{}", pushed.repo, pushed.platform("linux/arm64/v8").digest);
    let config = json(&readers::skopeo_inspect_config(registry, &arm64));
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["variant"], "v8");

    // skopeo picks this machine's platform out of the index.
    let config = json(&readers::skopeo_inspect_config(registry, &pushed.reference));
    assert_eq!(config["architecture"], "amd64");
}

#[test]
fn anonymous_registry_takes_every_fixture() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    assert_eq!(registry.credentials(), None);
    assert!(registry.url().starts_with("http://127.0.0.1:"));

    check_single(&registry, &push_single(&registry, "fixture/single:oci", Format::Oci));
    check_single(&registry, &push_single(&registry, "fixture/single:docker", Format::Docker));
    check_index(&registry, &push_index(&registry, "fixture/index:oci", Format::Oci));
    check_index(&registry, &push_index(&registry, "fixture/index:docker", Format::Docker));

    let log = registry.log();
    assert!(log.contains("PUT /v2/fixture/index/manifests/docker"), "{log}");
}

#[test]
fn readers_read_the_fixtures_back() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let single = push_single(&registry, "read/single:v1", Format::Docker);
    let index = push_index(&registry, "read/index:v1", Format::Oci);

    let copied = readers::skopeo_copy_to_oci(&registry, &single.reference);
    assert_eq!(readers::diff_ids_match(copied.path()), 1);
    let rootfs = readers::umoci_unpack(copied.path(), copied.tag());
    let motd = std::fs::read_to_string(rootfs.path().join("etc/motd")).expect("motd unpacked");
    assert_eq!(motd, MOTD);
    let sh = std::fs::read_link(rootfs.path().join("bin/sh")).expect("/bin/sh is a link");
    assert_eq!(sh, std::path::Path::new("busybox"));

    // --all keeps both platforms; the attestation is not an image and is skipped.
    let all = readers::skopeo_copy_all_to_oci(&registry, &index.reference);
    assert_eq!(readers::diff_ids_match(all.path()), 2);

    let image_id = readers::podman_pull(&registry, &index.reference);
    assert!(!image_id.is_empty());
}

#[test]
fn htpasswd_registry_needs_the_password() {
    let registry = Registry::start(RegistryAuth::htpasswd(USER, PASSWORD));
    let v2 = format!("{}/v2/", registry.url());

    let anonymous = http::get(&v2, &[]).expect("registry answers");
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.header("www-authenticate").is_some_and(|h| h.starts_with("Basic")));
    let wrong = basic(USER, "wrong password");
    assert_eq!(http::get(&v2, &[("Authorization", &wrong)]).expect("answers").status, 401);
    let right = basic(USER, PASSWORD);
    assert_eq!(http::get(&v2, &[("Authorization", &right)]).expect("answers").status, 200);

    check_single(&registry, &push_single(&registry, "auth/single:oci", Format::Oci));
    check_index(&registry, &push_index(&registry, "auth/index:docker", Format::Docker));
    let copied = readers::skopeo_copy_to_oci(&registry, "auth/single:oci");
    assert_eq!(readers::diff_ids_match(copied.path()), 1);
}

#[test]
fn token_registry_uses_the_issuer_and_checks_tokens() {
    let registry = Registry::start(RegistryAuth::token(USER, PASSWORD));
    let issuer = registry.token_issuer().expect("a token registry has an issuer");

    let pushed = push_single(&registry, "token/single:v1", Format::Oci);
    check_single(&registry, &pushed);
    check_index(&registry, &push_index(&registry, "token/index:v1", Format::Oci));
    assert!(issuer.tokens_issued() > 0);
    let scopes = issuer.granted_scopes();
    assert!(scopes.iter().any(|s| s.starts_with("repository:token/single:") && s.contains("push")), "{scopes:?}");

    // The issuer refuses anonymous and wrong credentials.
    let token_url =
        format!("{}?service={}&scope=repository:token/single:pull", issuer.realm(), layerize_tests::token::SERVICE);
    let before = issuer.tokens_issued();
    let anonymous = http::get(&token_url, &[]).expect("issuer answers");
    assert_eq!(anonymous.status, 401);
    let wrong = basic(USER, "wrong password");
    assert_eq!(http::get(&token_url, &[("Authorization", &wrong)]).expect("answers").status, 401);
    let right = basic(USER, PASSWORD);
    let granted = http::get(&token_url, &[("Authorization", &right)]).expect("answers");
    assert_eq!(granted.status, 200, "{}", granted.text());
    let body: Value = serde_json::from_slice(&granted.body).expect("token JSON");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(issuer.tokens_issued(), before + 1);

    // The registry sends clients to the issuer, and checks what they bring back.
    let v2 = format!("{}/v2/", registry.url());
    let challenge = http::get(&v2, &[]).expect("registry answers");
    assert_eq!(challenge.status, 401);
    let header = challenge.header("www-authenticate").unwrap_or_default();
    assert!(header.contains(&issuer.realm()), "{header}");

    let manifest = format!("{}/v2/token/single/manifests/v1", registry.url());
    let accept = ("Accept", "application/vnd.oci.image.manifest.v1+json");
    let status_with = |token: &str| {
        let bearer = format!("Bearer {token}");
        http::get(&manifest, &[("Authorization", &bearer), accept]).expect("answers").status
    };
    let token = body["token"].as_str().expect("token is a string");
    assert_eq!(status_with(token), 200);
    assert_eq!(status_with("garbage"), 401);
    assert_eq!(status_with(&issuer.mint(USER, &["repository:other/repo:pull"])), 401);

    // A well-formed token signed by a key the registry does not trust.
    let stranger_dir = tempfile::tempdir().expect("temp dir");
    let stranger = layerize_tests::TokenIssuer::start(
        USER,
        PASSWORD,
        layerize_tests::cert::SigningCert::generate(stranger_dir.path()),
    );
    assert_eq!(status_with(&stranger.mint(USER, &["repository:token/single:pull"])), 401);
}

#[test]
fn dockerd_pulls_and_runs_fixtures() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let single = push_single(&registry, "docker/single:oci", Format::Oci);
    let index = push_index(&registry, "docker/index:docker", Format::Docker);
    let token_registry = Registry::start(RegistryAuth::token(USER, PASSWORD));
    let private = push_single(&token_registry, "docker/private:v1", Format::Docker);

    let dockerd = Dockerd::start();
    dockerd.pull(&single.reference);
    assert_eq!(dockerd.run(&single.reference, &["cat", "/etc/motd"]), MOTD);
    let inspect = dockerd.image_inspect(&single.reference);
    assert_eq!(inspect["Config"]["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(inspect["Architecture"], "amd64");

    // From the Docker manifest list, dockerd picks linux/amd64.
    dockerd.pull(&index.reference);
    assert_eq!(dockerd.run(&index.reference, &["cat", "/etc/platform"]), "linux/amd64\n");

    // Through the token issuer, after docker login.
    let issued = token_registry.token_issuer().map(|i| i.tokens_issued()).unwrap_or_default();
    dockerd.login(&token_registry.host(), USER, PASSWORD);
    dockerd.pull(&private.reference);
    assert_eq!(dockerd.run(&private.reference, &["ls", "/bin/busybox"]), "/bin/busybox\n");
    let now = token_registry.token_issuer().map(|i| i.tokens_issued()).unwrap_or_default();
    assert!(now > issued, "docker pulled without asking the token issuer");
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[test]
fn a_service_that_dies_fails_the_wait_naming_its_log() {
    let outcome = std::panic::catch_unwind(|| {
        let mut command = std::process::Command::new("sh");
        command.args(["-c", "echo cannot start >&2; exit 3"]);
        let dir = layerize_tests::process::service_dir("doomed");
        let mut service = layerize_tests::Service::spawn("doomed", dir, command);
        service.wait_for_port(layerize_tests::free_port());
    });
    let payload = outcome.expect_err("waiting on a dead service must panic");
    let message = payload.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("doomed exited with"), "{message}");
    assert!(message.contains("cannot start"), "{message}");
    // The dir is kept for inspection when a wait fails; this test cleans it up.
    let log =
        message.split_whitespace().find(|word| word.ends_with("doomed.log;")).expect("the message names the log file");
    let dir = std::path::Path::new(log.trim_end_matches(';')).parent().expect("the log is in the service dir");
    assert!(dir.join("doomed.log").is_file());
    std::fs::remove_dir_all(dir).expect("the kept dir can be removed");
}

#[test]
fn a_killed_dockerd_leaves_no_process_or_mount_behind() {
    let dockerd = Dockerd::start();
    let dir = dockerd.dir().to_path_buf();
    let killed =
        std::process::Command::new("kill").args(["-KILL", &dockerd.pid().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    drop(dockerd);

    assert!(!dir.exists(), "{} was not removed", dir.display());
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mountinfo.contains(&*dir.to_string_lossy()), "{mountinfo}");
    let survivors: Vec<_> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).into_owned())
        .filter(|cmdline| cmdline.contains(&*dir.to_string_lossy()))
        .collect();
    assert!(survivors.is_empty(), "{survivors:?}");
}
