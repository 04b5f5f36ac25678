//! Credentials for a registry, as Docker finds them: `--username` + `--password-stdin`, else
//! `~/.docker/config.json` (`$DOCKER_CONFIG`): `credHelpers`, `credsStore`, then `auths`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use base64::Engine;
use layerize_registry::Credentials;
use serde::Deserialize;

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

/// The keys Docker files a registry under (Docker Hub's legacy key first for it).
fn server_keys(registry: &str) -> Vec<String> {
    if registry == "docker.io" {
        return vec![
            "https://index.docker.io/v1/".into(),
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

fn config_path() -> PathBuf {
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
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run credential helper {program}"))?;
    child.stdin.take().context("helper stdin")?.write_all(server.as_bytes())?;
    let out = child.wait_with_output()?;
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
}
