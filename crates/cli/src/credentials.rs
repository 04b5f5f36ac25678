//! Credentials for a registry, as Docker finds and files them: `--username` + `--password-stdin`,
//! else `~/.docker/config.json` (`$DOCKER_CONFIG`): `credHelpers`, `auths`, then `credsStore`.
//! `login` and `logout` write that file (or the credential helper it names) the way `docker
//! login` and `docker logout` do, so docker, skopeo and podman read what layerize wrote.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use base64::Engine;
use layerize_registry::Credentials;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The key Docker files Docker Hub under, whatever name the user gave it.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// The credentials to use for `registry` (as written in references: `docker.io`, `host:port`).
pub fn lookup(registry: &str) -> Result<Option<Credentials>> {
    let path = config_path();
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let config: DockerConfig =
        serde_json::from_slice(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
    let keys = server_keys(registry);
    if let Some(helper) = keys.iter().find_map(|k| config.cred_helpers.get(k)) {
        return helper_get(helper, &keys[0]);
    }
    for key in &keys {
        if let Some(entry) = config.auths.get(key) {
            if let Some(found) = from_entry(entry, &path)? {
                return Ok(Some(found));
            }
        }
    }
    if let Some(store) = &config.creds_store {
        return helper_get(store, &keys[0]);
    }
    Ok(None)
}

/// The keys Docker files a registry under (Docker Hub's legacy key first for it). The first is
/// the one `login` writes and credential helpers are asked about.
fn server_keys(registry: &str) -> Vec<String> {
    if registry == "docker.io" {
        return vec![
            DOCKER_HUB_KEY.into(),
            "index.docker.io".into(),
            "docker.io".into(),
            "registry-1.docker.io".into(),
        ];
    }
    vec![
        registry.to_owned(),
        format!("https://{registry}"),
        format!("http://{registry}"),
        format!("https://{registry}/v1/"),
        format!("https://{registry}/v2/"),
    ]
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn config_path() -> PathBuf {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".docker"));
    dir.join("config.json")
}

fn from_entry(entry: &AuthEntry, path: &std::path::Path) -> Result<Option<Credentials>> {
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        // An identity token is a refresh token for the OAuth2 flow, which this CLI does not
        // run; say so rather than send it where it does not belong.
        let _ = token;
        bail!(
            "{} holds an identity token for this registry; log in with a username and password instead",
            path.display()
        );
    }
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials::Basic { username: u.clone(), password: p.clone() }));
    }
    let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) else { return Ok(None) };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .with_context(|| format!("an `auth` entry in {} is not base64", path.display()))?;
    let decoded =
        String::from_utf8(decoded).with_context(|| format!("an `auth` entry in {} is not UTF-8", path.display()))?;
    let Some((username, password)) = decoded.split_once(':') else {
        bail!("an `auth` entry in {} is not `user:password`", path.display());
    };
    Ok(Some(Credentials::Basic { username: username.to_owned(), password: password.to_owned() }))
}

/// Runs `docker-credential-<helper> get`, as Docker does.
fn helper_get(helper: &str, server: &str) -> Result<Option<Credentials>> {
    let (program, out) = run_helper(helper, "get", server.as_bytes())?;
    if !out.status.success() {
        // Helpers answer "credentials not found in native keychain" for unknown servers.
        return Ok(None);
    }
    let answer: HelperAnswer =
        serde_json::from_slice(&out.stdout).with_context(|| format!("{program} gave an answer that is not JSON"))?;
    if answer.username == "<token>" {
        bail!("{program} returned an identity token for {server}; log in with a username and password instead");
    }
    Ok(Some(Credentials::Basic { username: answer.username, password: answer.secret }))
}

/// Runs `docker-credential-<helper> ACTION` with `input` on its stdin; returns the program's
/// name and what it did.
fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<(String, std::process::Output)> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run credential helper {program}"))?;
    let written = child.stdin.take().context("helper stdin")?.write_all(input);
    let out = child.wait_with_output().with_context(|| format!("waiting for {program}"))?;
    // A helper that fails before reading its input closes the pipe: its own message says more.
    if let Err(e) = written {
        if out.status.success() {
            return Err(e).with_context(|| format!("writing to {program}"));
        }
    }
    Ok((program, out))
}

/// What a helper said when it failed: its stdout (where helpers put their message), else stderr.
fn helper_message(out: &std::process::Output) -> String {
    let text = if out.stdout.iter().any(|b| !b.is_ascii_whitespace()) { &out.stdout } else { &out.stderr };
    let text = String::from_utf8_lossy(text).trim().to_owned();
    if text.is_empty() {
        format!("it exited with {}", out.status)
    } else {
        text
    }
}

/// The registry a `login`/`logout` argument names, spelled as in references: Docker Hub's
/// names (`docker.io`, `index.docker.io`, `registry-1.docker.io`, its legacy URL) all become
/// `docker.io`; a scheme and a trailing `/`, `/v1/` or `/v2/` are dropped (`docker login`
/// accepts them too).
pub fn registry_name(arg: &str) -> Result<String> {
    let trimmed = arg.trim();
    let host = trimmed.strip_prefix("https://").or_else(|| trimmed.strip_prefix("http://")).unwrap_or(trimmed);
    let host = host.trim_end_matches('/');
    let host = host.strip_suffix("/v1").or_else(|| host.strip_suffix("/v2")).unwrap_or(host);
    if host.is_empty() || host.contains(['/', '@', '?', '#']) || host.chars().any(char::is_whitespace) {
        bail!("{arg:?} is not a registry: give its host, e.g. docker.io, ghcr.io or 127.0.0.1:5000");
    }
    Ok(match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        _ => host.to_owned(),
    })
}

/// Where `store` put the credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// In `docker-credential-<name>`.
    Helper(String),
    /// Base64 in the config file's `auths` (readable by anyone who can read the file).
    File(PathBuf),
}

/// Saves `username`/`password` for `registry` (as [`registry_name`] spells it) where `docker
/// login` would: the credential helper the config names for it (`credHelpers`, else
/// `credsStore`), else base64 in `auths`. Every other part of the config is kept.
pub fn store(registry: &str, username: &str, password: &str) -> Result<Stored> {
    store_in(&config_path(), registry, username, password)
}

fn store_in(path: &Path, registry: &str, username: &str, password: &str) -> Result<Stored> {
    let mut config = read_config(path)?.unwrap_or_else(|| Value::Object(Map::new()));
    let keys = server_keys(registry);
    let key = &keys[0];
    let stored = match helper_for(&config, &keys) {
        Some(helper) => {
            let input = json!({ "ServerURL": key, "Username": username, "Secret": password });
            let (program, out) = run_helper(&helper, "store", input.to_string().as_bytes())?;
            if !out.status.success() {
                // A helper that echoes its input must not make us print the secret.
                let message = helper_message(&out).replace(password, "<redacted>");
                bail!("{program} could not store the credentials for {registry}: {message}");
            }
            Stored::Helper(helper)
        }
        None => Stored::File(path.to_owned()),
    };
    let auths = object_field(&mut config, "auths", path)?;
    // Older or hand-written entries for the same registry under another key would be read
    // before (or instead of) the new credentials: their secrets go.
    for alias in &keys[1..] {
        if let Some(Value::Object(entry)) = auths.get_mut(alias) {
            strip_secrets(entry);
            if entry.is_empty() {
                auths.remove(alias);
            }
        }
    }
    let mut entry = match auths.remove(key) {
        Some(Value::Object(entry)) => entry,
        _ => Map::new(),
    };
    strip_secrets(&mut entry);
    if matches!(stored, Stored::File(_)) {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        entry.insert("auth".into(), Value::String(auth));
    }
    // With a helper, Docker still lists the registry in `auths`, with no secret in it.
    auths.insert(key.clone(), Value::Object(entry));
    write_config(path, &config)?;
    Ok(stored)
}

/// Removes the credentials for `registry` as `docker logout` does: from its credential
/// helper, and every `auths` entry filed under one of its names. Returns where they were; a
/// registry with none anywhere is an error.
pub fn erase(registry: &str) -> Result<Vec<String>> {
    erase_in(&config_path(), registry)
}

fn erase_in(path: &Path, registry: &str) -> Result<Vec<String>> {
    let not_logged_in =
        || anyhow::anyhow!("not logged in to {registry}: {} holds no credentials for it", path.display());
    let Some(mut config) = read_config(path)? else { return Err(not_logged_in()) };
    let keys = server_keys(registry);
    let mut removed = Vec::new();
    if let Some(helper) = helper_for(&config, &keys) {
        let (program, out) = run_helper(&helper, "erase", keys[0].as_bytes())?;
        if out.status.success() {
            removed.push(program);
        } else {
            let message = helper_message(&out);
            // "credentials not found in native keychain" is the helpers' way to say "none".
            if !message.to_ascii_lowercase().contains("not found") {
                bail!("{program} could not erase the credentials for {registry}: {message}");
            }
        }
    }
    let auths = object_field(&mut config, "auths", path)?;
    let before = auths.len();
    auths.retain(|key, _| !keys.contains(key));
    if auths.len() != before {
        removed.push(path.display().to_string());
        write_config(path, &config)?;
    }
    if removed.is_empty() {
        return Err(not_logged_in());
    }
    Ok(removed)
}

/// The helper the config names for `keys`' registry: its `credHelpers` entry, else `credsStore`.
fn helper_for(config: &Value, keys: &[String]) -> Option<String> {
    let named = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    keys.iter()
        .find_map(|k| named(config.get("credHelpers").and_then(|h| h.get(k))))
        .or_else(|| named(config.get("credsStore")))
}

fn strip_secrets(entry: &mut Map<String, Value>) {
    for field in ["auth", "username", "password", "identitytoken", "registrytoken"] {
        entry.remove(field);
    }
}

/// `config[name]` as an object, made if absent.
fn object_field<'a>(config: &'a mut Value, name: &str, path: &Path) -> Result<&'a mut Map<String, Value>> {
    let Value::Object(top) = config else { bail!("{} is not a JSON object", path.display()) };
    let field = top.entry(name).or_insert_with(|| Value::Object(Map::new()));
    if field.is_null() {
        *field = Value::Object(Map::new());
    }
    field.as_object_mut().with_context(|| format!("`{name}` in {} is not a JSON object", path.display()))
}

/// The config as JSON (field order kept), `None` if there is no file; an empty file is `{}`.
fn read_config(path: &Path) -> Result<Option<Value>> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Value::Object(Map::new())));
    }
    let value: Value =
        serde_json::from_slice(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
    if !value.is_object() {
        bail!("{} is not a JSON object", path.display());
    }
    Ok(Some(value))
}

/// Replaces the config in one step (a temporary file beside it, then a rename), so a reader
/// never sees half a file. A symlinked config is written where the link points; an existing
/// file keeps its mode, a new one is 0600 in a 0700 directory, as Docker makes them.
fn write_config(path: &Path, config: &Value) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let target = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_owned(),
        Err(e) => return Err(e).with_context(|| format!("cannot resolve {}", path.display())),
    };
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut text = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
    serde::Serialize::serialize(config, &mut serializer)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".config.json.")
        .tempfile_in(dir)
        .with_context(|| format!("cannot make a temporary file in {}", dir.display()))?;
    let mode = std::fs::metadata(&target).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o600);
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", temp.path().display()))?;
    temp.write_all(&text)
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", temp.path().display()))?;
    temp.persist(&target).with_context(|| format!("cannot replace {}", target.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auths_entries() {
        let dir = tempfile::tempdir().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:s3cret");
        std::fs::write(
            dir.path().join("config.json"),
            format!(r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{auth}"}}}}}}"#),
        )
        .unwrap();
        std::env::set_var("DOCKER_CONFIG", dir.path());
        let found = lookup("127.0.0.1:5000").unwrap();
        assert_eq!(found, Some(Credentials::Basic { username: "bob".into(), password: "s3cret".into() }));
        assert_eq!(lookup("127.0.0.1:6000").unwrap(), None);
    }

    fn read(path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn registry_names_as_references_spell_them() {
        for (arg, name) in [
            ("docker.io", "docker.io"),
            ("index.docker.io", "docker.io"),
            ("registry-1.docker.io", "docker.io"),
            ("https://index.docker.io/v1/", "docker.io"),
            ("127.0.0.1:5000", "127.0.0.1:5000"),
            ("http://127.0.0.1:5000/", "127.0.0.1:5000"),
            ("https://ghcr.io/v2/", "ghcr.io"),
        ] {
            assert_eq!(registry_name(arg).unwrap(), name, "{arg}");
        }
        for bad in ["", "https://", "ghcr.io/owner", "user@ghcr.io", "a b"] {
            assert!(registry_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn store_keeps_the_rest_of_the_config_and_replaces_stale_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let stale = base64::engine::general_purpose::STANDARD.encode("old:old");
        std::fs::write(
            &path,
            format!(
                r#"{{"psFormat":"table","auths":{{"other.io":{{"auth":"eA=="}},"https://127.0.0.1:5000":{{"auth":"{stale}"}},"127.0.0.1:5000":{{"auth":"{stale}","email":"a@b"}}}},"proxies":{{"default":{{}}}}}}"#
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
        assert_eq!(store_in(&path, "127.0.0.1:5000", "bob", "s3cret").unwrap(), Stored::File(path.clone()));
        let config = read(&path);
        let keys: Vec<&String> = config.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["psFormat", "auths", "proxies"], "order and fields kept");
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:s3cret");
        assert_eq!(
            config["auths"],
            json!({ "other.io": { "auth": "eA==" }, "127.0.0.1:5000": { "email": "a@b", "auth": auth } })
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o640, "an existing file keeps its mode");

        assert_eq!(erase_in(&path, "127.0.0.1:5000").unwrap(), [path.display().to_string()]);
        assert_eq!(read(&path)["auths"], json!({ "other.io": { "auth": "eA==" } }));
        let again = erase_in(&path, "127.0.0.1:5000").unwrap_err().to_string();
        assert!(again.contains("not logged in to 127.0.0.1:5000"), "{again}");
    }

    #[test]
    fn a_new_config_is_private_and_docker_hub_uses_its_legacy_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new").join("config.json");
        store_in(&path, "docker.io", "bob", "pw").unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        let config = read(&path);
        assert!(config["auths"][DOCKER_HUB_KEY]["auth"].is_string(), "{config}");
        assert!(erase_in(&dir.path().join("none.json"), "docker.io").is_err());
    }
}
