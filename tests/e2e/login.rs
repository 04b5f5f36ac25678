//! `layerize login`, `logout` and `completions` against the real registry (htpasswd and token
//! auth): what login writes, skopeo (`--authfile`) and layerize itself use; a wrong password
//! saves nothing; logout takes it away again; a credential helper named by the config gets the
//! secret instead of the file. No output ever shows the password or its base64 form.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use layerize_tests::oci_layout::sha256_digest;
use layerize_tests::{push_single, tool, Format, Registry, RegistryAuth};
use serde_json::{json, Value};

use crate::cli::Run;

const USER: &str = "alice";
const PASSWORD: &str = "pw-Zq7xK2vLm9";

/// `layerize ARGS` with `stdin`, the Docker config in `config_dir`, and `path_first` ahead of
/// `PATH` (where a test credential helper lives).
fn layerize_with(args: &[&str], stdin: Option<&str>, config_dir: &Path, path_first: Option<&Path>) -> Run {
    let mut command = Command::new(layerize_tests::layerize());
    command
        .args(args)
        .env("DOCKER_CONFIG", config_dir)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = path_first {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![dir.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        command.env("PATH", std::env::join_paths(dirs).expect("PATH"));
    }
    let mut child = command.spawn().expect("spawn layerize");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait layerize");
    let run = Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_no_secret(&run, args);
    run
}

/// Neither the password nor any base64 form of it appears in what layerize printed.
fn assert_no_secret(run: &Run, args: &[&str]) {
    for secret in [PASSWORD.to_owned(), STANDARD.encode(format!("{USER}:{PASSWORD}"))] {
        for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(!text.contains(&secret), "layerize {args:?} printed the secret on {name}:\n{text}");
        }
    }
}

fn login(registry: &Registry, password: &str, config_dir: &Path, path_first: Option<&Path>) -> Run {
    let host = registry.host();
    layerize_with(
        &["login", &host, "-u", USER, "--password-stdin"],
        Some(&format!("{password}\n")),
        config_dir,
        path_first,
    )
}

fn read_config(dir: &Path) -> Value {
    let path = dir.join("config.json");
    let text = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{} is not JSON ({e})", path.display()))
}

/// The raw manifest skopeo reads with the credentials in `config_dir`'s config.
fn skopeo_raw(reference: &str, config_dir: &Path) -> std::process::Output {
    tool::require_tool("skopeo");
    let authfile = config_dir.join("config.json");
    let mut command = Command::new("skopeo");
    command
        .args(["--insecure-policy", "inspect", "--tls-verify=false", "--raw", "--authfile"])
        .arg(&authfile)
        .arg(format!("docker://{reference}"));
    command.output().expect("run skopeo")
}

/// Login, use by skopeo and layerize, a wrong password, logout: the whole life of an entry.
fn login_cycle(auth: RegistryAuth) {
    let registry = Registry::start(auth);
    let host = registry.host();
    let pushed = push_single(&registry, "login/app:1", Format::Oci);
    let dir = tempfile::tempdir().expect("temp dir");
    let config_dir = dir.path().join("docker");

    // A wrong password: a clear error, and no config file appears.
    let stderr = login(&registry, "not-the-password", &config_dir, None).fails();
    assert!(stderr.contains(&format!("wrong username or password for {host}")), "{stderr}");
    assert!(!config_dir.join("config.json").exists(), "a refused login wrote a config");

    let run = login(&registry, PASSWORD, &config_dir, None);
    let stderr = run.stderr.clone();
    assert_eq!(run.ok(), "Login Succeeded\n");
    assert!(stderr.contains("unencrypted"), "no note that the file holds the password:\n{stderr}");
    let config_path = config_dir.join("config.json");
    let mode = fs::metadata(&config_path).expect("config").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "a new config must be private");
    let config = read_config(&config_dir);
    assert_eq!(config["auths"][&host], json!({ "auth": STANDARD.encode(format!("{USER}:{PASSWORD}")) }));

    // skopeo reads the same file as docker's config and gets the manifest layerize also gets.
    let out = skopeo_raw(&pushed.reference, &config_dir);
    assert!(out.status.success(), "skopeo with the config failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sha256_digest(&out.stdout), pushed.digest);
    let raw = layerize_with(&["inspect", "--raw", &pushed.reference], None, &config_dir, None).ok();
    assert_eq!(sha256_digest(raw.as_bytes()), pushed.digest);

    // A wrong password over an existing login changes nothing.
    let before = fs::read(&config_path).expect("config");
    let stderr = login(&registry, "still-wrong", &config_dir, None).fails();
    assert!(stderr.contains(&format!("wrong username or password for {host}")), "{stderr}");
    assert_eq!(fs::read(&config_path).expect("config"), before, "a refused login changed the config");

    let out = layerize_with(&["logout", &host], None, &config_dir, None).ok();
    assert_eq!(out, format!("Removing login credentials for {host}\n"));
    assert_eq!(read_config(&config_dir)["auths"], json!({}));
    let stderr = layerize_with(&["inspect", "--raw", &pushed.reference], None, &config_dir, None).fails();
    assert!(stderr.contains(&format!("registry {host} refused the credentials")), "{stderr}");
    assert!(stderr.contains("log in"), "{stderr}");
    assert!(!skopeo_raw(&pushed.reference, &config_dir).status.success(), "skopeo still got in after logout");

    let stderr = layerize_with(&["logout", &host], None, &config_dir, None).fails();
    assert!(stderr.contains(&format!("not logged in to {host}")), "{stderr}");
}

#[test]
fn login_with_htpasswd_writes_what_skopeo_and_layerize_use_and_logout_removes_it() {
    login_cycle(RegistryAuth::htpasswd(USER, PASSWORD));
}

#[test]
fn login_with_token_auth_writes_what_skopeo_and_layerize_use_and_logout_removes_it() {
    login_cycle(RegistryAuth::token(USER, PASSWORD));
}

/// `docker-credential-test`: keeps each server's JSON in `store/` beside itself, answers "not
/// found" as real helpers do, and logs each action to `calls`.
const HELPER: &str = r#"#!/bin/sh
here=$(dirname "$0")
mkdir -p "$here/store"
echo "$1" >> "$here/calls"
name() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
case "$1" in
store)
    input=$(cat)
    server=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
    [ -n "$server" ] || { echo "no ServerURL in the input"; exit 1; }
    printf '%s' "$input" > "$here/store/$(name "$server")" ;;
get|erase)
    file="$here/store/$(name "$(cat)")"
    [ -f "$file" ] || { echo "credentials not found in native keychain"; exit 1; }
    if [ "$1" = get ]; then cat "$file"; else rm "$file"; fi ;;
*)
    echo "unknown action $1" >&2; exit 1 ;;
esac
"#;

fn install_helper(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).expect("bin dir");
    let script = bin.join("docker-credential-test");
    fs::write(&script, HELPER).expect("write helper");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod helper");
    bin
}

fn helper_calls(bin: &Path) -> Vec<String> {
    fs::read_to_string(bin.join("calls")).unwrap_or_default().lines().map(str::to_owned).collect()
}

fn helper_entries(bin: &Path) -> Vec<Value> {
    let Ok(entries) = fs::read_dir(bin.join("store")) else { return Vec::new() };
    entries
        .map(|e| serde_json::from_slice(&fs::read(e.expect("entry").path()).expect("read entry")).expect("JSON entry"))
        .collect()
}

#[test]
fn a_credential_helper_named_by_the_config_gets_the_secret_instead_of_the_file() {
    // credsStore for the htpasswd registry, credHelpers for the token one.
    for (auth, helper_key) in
        [(RegistryAuth::htpasswd(USER, PASSWORD), "credsStore"), (RegistryAuth::token(USER, PASSWORD), "credHelpers")]
    {
        let registry = Registry::start(auth);
        let host = registry.host();
        let pushed = push_single(&registry, "helper/app:1", Format::Oci);
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = install_helper(dir.path());
        let config_dir = dir.path().join("docker");
        fs::create_dir_all(&config_dir).expect("config dir");
        let helper = if helper_key == "credsStore" { json!("test") } else { json!({ host.clone(): "test" }) };
        let original = json!({ "psFormat": "table {{.ID}}", helper_key: helper, "auths": { "other.example": {} } });
        fs::write(config_dir.join("config.json"), serde_json::to_vec_pretty(&original).expect("JSON"))
            .expect("write config");

        let stderr = login(&registry, "wrong", &config_dir, Some(&bin)).fails();
        assert!(stderr.contains("wrong username or password"), "{stderr}");
        assert!(helper_entries(&bin).is_empty(), "a refused login reached the helper");

        let run = login(&registry, PASSWORD, &config_dir, Some(&bin));
        assert!(!run.stderr.contains("unencrypted"), "{}", run.stderr);
        assert_eq!(run.ok(), "Login Succeeded\n");
        assert_eq!(
            helper_entries(&bin),
            [json!({ "ServerURL": host, "Username": USER, "Secret": PASSWORD })],
            "{helper_key}"
        );
        let config = read_config(&config_dir);
        assert_eq!(config["psFormat"], original["psFormat"], "other fields are kept");
        assert_eq!(config[helper_key], original[helper_key]);
        // Docker lists the registry with no secret in it; the file holds no `auth` for it.
        assert_eq!(config["auths"], json!({ "other.example": {}, host.clone(): {} }));

        let raw = layerize_with(&["inspect", "--raw", &pushed.reference], None, &config_dir, Some(&bin)).ok();
        assert_eq!(sha256_digest(raw.as_bytes()), pushed.digest);
        assert!(helper_calls(&bin).contains(&"get".to_owned()), "layerize did not ask the helper");

        layerize_with(&["logout", &host], None, &config_dir, Some(&bin)).ok();
        assert!(helper_entries(&bin).is_empty(), "logout left the secret in the helper");
        assert_eq!(read_config(&config_dir)["auths"], json!({ "other.example": {} }));
        let stderr = layerize_with(&["inspect", "--raw", &pushed.reference], None, &config_dir, Some(&bin)).fails();
        assert!(stderr.contains(&format!("registry {host} refused the credentials")), "{stderr}");
        let stderr = layerize_with(&["logout", &host], None, &config_dir, Some(&bin)).fails();
        assert!(stderr.contains(&format!("not logged in to {host}")), "{stderr}");
    }
}

#[test]
fn login_refuses_bad_input_before_asking_the_registry() {
    let dir = tempfile::tempdir().expect("temp dir");
    // No terminal and no --password-stdin: nothing to ask the password on.
    let stderr = layerize_with(&["login", "127.0.0.1:9", "-u", USER], None, dir.path(), None).fails();
    assert!(stderr.contains("no terminal"), "{stderr}");
    let stderr =
        layerize_with(&["login", "myhost", "-u", USER, "--password-stdin"], Some(PASSWORD), dir.path(), None).fails();
    assert!(stderr.contains("not a registry host"), "{stderr}");
    let stderr =
        layerize_with(&["login", "ghcr.io/owner", "-u", USER, "--password-stdin"], Some(PASSWORD), dir.path(), None)
            .fails();
    assert!(stderr.contains("is not a registry"), "{stderr}");
    // Nothing listens on port 9: the error names the registry, and nothing is saved.
    let stderr =
        layerize_with(&["login", "127.0.0.1:9", "-u", USER, "--password-stdin"], Some(PASSWORD), dir.path(), None)
            .fails();
    assert!(stderr.contains("127.0.0.1:9"), "{stderr}");
    assert!(!dir.path().join("config.json").exists());
    let stderr = layerize_with(&["logout", "127.0.0.1:9"], None, dir.path(), None).fails();
    assert!(stderr.contains("not logged in to 127.0.0.1:9"), "{stderr}");
}

#[test]
fn completions_print_a_script_for_each_shell() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bash = layerize_with(&["completions", "bash"], None, dir.path(), None).ok();
    assert!(bash.contains("layerize") && bash.contains("pull") && bash.contains("login"), "{bash}");
    for shell in ["zsh", "fish"] {
        let script = layerize_with(&["completions", shell], None, dir.path(), None).ok();
        assert!(script.contains("layerize") && script.contains("pull"), "{shell}: {script}");
    }
    let out = layerize_with(&["completions", "nosuch"], None, dir.path(), None);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(out.stderr.contains("invalid value 'nosuch'") && out.stderr.contains("bash"), "{}", out.stderr);
}

#[test]
fn every_command_help_shows_an_example() {
    let dir = tempfile::tempdir().expect("temp dir");
    let top = layerize_with(&["--help"], None, dir.path(), None).ok();
    // The commands as `--help` lists them: the indented lines between "Commands:" and "Options:".
    let commands: Vec<&str> = top
        .split("Commands:")
        .nth(1)
        .and_then(|rest| rest.split("Options:").next())
        .expect("a Commands section")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(commands.contains(&"login") && commands.contains(&"pull"), "{commands:?}");
    for name in commands {
        for flag in ["-h", "--help"] {
            let help = layerize_with(&[name, flag], None, dir.path(), None).ok();
            assert!(help.contains("Example") && help.contains(&format!("layerize {name}")), "{name} {flag}:\n{help}");
        }
    }
}
