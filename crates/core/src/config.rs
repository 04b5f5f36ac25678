//! The image config: a read view over its raw bytes, and the edits an append makes.
//!
//! Edits go through an order-preserving `serde_json::Value`, so every field this crate does
//! not know (and the order of those it does) survives; only a changed config is re-serialised.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::error::Error;
use crate::platform::Platform;

/// An image config as fetched, with a parsed view for reading.
#[derive(Clone, Debug)]
pub struct Config {
    raw: Vec<u8>,
    digest: Digest,
    doc: Map<String, Value>,
}

/// One `history` entry. `empty_layer` entries (ENV, CMD …) made no layer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// Edits to a config besides new layers, as `docker build` instructions or `crane mutate`
/// flags would make them. Empty means "keep the base's".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigChanges {
    /// The config's `created` time (RFC 3339); a parameter because the core reads no clock.
    pub created: Option<String>,
    /// `KEY=VALUE` entries: each replaces the base's entry for `KEY`, or is appended.
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    /// Labels set (added or replaced).
    pub labels: Vec<(String, String)>,
    /// The user the process runs as (`name`, `uid`, `uid:gid`), replacing the base's.
    pub user: Option<String>,
    /// Ports to expose, as [`ConfigChanges::parse_port`] writes them (`8080/tcp`); added to
    /// the base's.
    pub exposed_ports: Vec<String>,
}

impl ConfigChanges {
    /// A command as the CLI and the page take it: a JSON array of strings
    /// (`["/app/run","-v"]`), or words split on whitespace.
    pub fn parse_command(s: &str) -> Result<Vec<String>, String> {
        if s.trim_start().starts_with('[') {
            return serde_json::from_str(s).map_err(|e| format!("{s:?} is not a JSON array of strings: {e}"));
        }
        Ok(s.split_whitespace().map(str::to_owned).collect())
    }

    /// `KEY=VALUE` split in two; the key must not be empty.
    pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
        match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("{s:?} is not KEY=VALUE")),
        }
    }

    /// `PORT[/PROTOCOL]` as a config's `ExposedPorts` key: `8080` becomes `8080/tcp`, as
    /// `EXPOSE` does; the protocol is `tcp`, `udp` or `sctp`.
    pub fn parse_port(s: &str) -> Result<String, String> {
        let (port, protocol) = s.split_once('/').unwrap_or((s, "tcp"));
        let protocol = protocol.to_ascii_lowercase();
        if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
            return Err(format!("{s:?}: the protocol must be tcp, udp or sctp"));
        }
        match port.parse::<u16>() {
            Ok(n) if n > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(format!("{n}/{protocol}")),
            _ => Err(format!("{s:?} is not PORT[/PROTOCOL] with a port from 1 to 65535")),
        }
    }
}

/// What a person wants to know about a config at a glance (the history is [`Config::history`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub platform: String,
    pub created: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub exposed_ports: Vec<String>,
    /// In the config's order.
    #[serde(serialize_with = "pairs_as_map")]
    pub labels: Vec<(String, String)>,
}

fn pairs_as_map<S: serde::Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

impl Config {
    /// Parses config bytes; `what` names the config in errors.
    pub fn parse(what: &str, raw: Vec<u8>) -> Result<Config, Error> {
        let bad = |problem: String| Error::InvalidConfig { what: what.to_owned(), problem };
        let doc: Map<String, Value> =
            serde_json::from_slice(&raw).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let config = Config { digest: Digest::sha256(&raw), raw, doc };
        config.diff_ids().map_err(|e| bad(format!("bad rootfs.diff_ids: {e}")))?;
        Ok(config)
    }

    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// `rootfs.diff_ids`: the sha256 of each layer's uncompressed tar, in order.
    pub fn diff_ids(&self) -> Result<Vec<Digest>, String> {
        let Some(ids) = self.doc.get("rootfs").and_then(|r| r.get("diff_ids")) else {
            return Ok(Vec::new());
        };
        let ids = ids.as_array().ok_or("not an array")?;
        ids.iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| "an entry is not a string".to_owned())?
                    .parse()
                    .map_err(|e: Error| e.to_string())
            })
            .collect()
    }

    pub fn history(&self) -> Vec<History> {
        self.doc.get("history").and_then(|h| serde_json::from_value(h.clone()).ok()).unwrap_or_default()
    }

    pub fn platform(&self) -> Platform {
        let s = |k: &str| self.doc.get(k).and_then(Value::as_str);
        Platform::new(s("os").unwrap_or("unknown"), s("architecture").unwrap_or("unknown"), s("variant"))
    }

    pub fn summary(&self) -> Summary {
        let c = self.doc.get("config").and_then(Value::as_object);
        let get = |k: &str| c.and_then(|c| c.get(k));
        let strings = |k: &str| get(k).and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok());
        let string = |k: &str| get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        let map_keys = |k: &str| -> Vec<(String, String)> {
            get(k)
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
                .unwrap_or_default()
        };
        Summary {
            platform: self.platform().to_string(),
            created: self.doc.get("created").and_then(Value::as_str).map(str::to_owned),
            entrypoint: strings("Entrypoint"),
            cmd: strings("Cmd"),
            env: strings("Env").unwrap_or_default(),
            working_dir: string("WorkingDir"),
            user: string("User"),
            exposed_ports: map_keys("ExposedPorts").into_iter().map(|(k, _)| k).collect(),
            labels: map_keys("Labels"),
        }
    }

    /// New config bytes with `layers` appended to `rootfs.diff_ids` and `history`, and
    /// `changes` applied. Every other field keeps its value and position.
    pub fn with_layers(&self, layers: &[(Digest, History)], changes: &ConfigChanges) -> Result<Vec<u8>, Error> {
        let mut doc = self.doc.clone();
        let rootfs = doc.entry("rootfs").or_insert_with(|| serde_json::json!({"type": "layers", "diff_ids": []}));
        let rootfs = rootfs.as_object_mut().ok_or_else(|| self.edit_error("`rootfs` is not an object"))?;
        let ids = rootfs.entry("diff_ids").or_insert_with(|| Value::Array(Vec::new()));
        let ids = ids.as_array_mut().ok_or_else(|| self.edit_error("`rootfs.diff_ids` is not an array"))?;
        ids.extend(layers.iter().map(|(d, _)| Value::String(d.to_string())));
        let history = doc.entry("history").or_insert_with(|| Value::Array(Vec::new()));
        let history = history.as_array_mut().ok_or_else(|| self.edit_error("`history` is not an array"))?;
        for (_, h) in layers {
            history.push(serde_json::to_value(h).map_err(|e| self.edit_error(&e.to_string()))?);
        }
        if let Some(created) = &changes.created {
            doc.insert("created".into(), Value::String(created.clone()));
        }
        self.apply(&mut doc, changes)?;
        serde_json::to_vec(&doc).map_err(|e| self.edit_error(&e.to_string()))
    }

    /// Applies the runtime settings of `changes` to the `config` object.
    fn apply(&self, doc: &mut Map<String, Value>, changes: &ConfigChanges) -> Result<(), Error> {
        let untouched = changes.env.is_empty()
            && changes.entrypoint.is_none()
            && changes.cmd.is_none()
            && changes.working_dir.is_none()
            && changes.labels.is_empty()
            && changes.user.is_none()
            && changes.exposed_ports.is_empty();
        if untouched {
            return Ok(());
        }
        let run = doc.entry("config").or_insert_with(|| Value::Object(Map::new()));
        if run.is_null() {
            *run = Value::Object(Map::new());
        }
        let run = run.as_object_mut().ok_or_else(|| self.edit_error("`config` is not an object"))?;
        if !changes.env.is_empty() {
            let env = run.entry("Env").or_insert_with(|| Value::Array(Vec::new()));
            if env.is_null() {
                *env = Value::Array(Vec::new());
            }
            let env = env.as_array_mut().ok_or_else(|| self.edit_error("`config.Env` is not an array"))?;
            for entry in &changes.env {
                let key = entry.split_once('=').map(|(k, _)| k).unwrap_or(entry);
                let same =
                    |v: &Value| v.as_str().is_some_and(|s| s.split_once('=').map(|(k, _)| k).unwrap_or(s) == key);
                match env.iter_mut().find(|v| same(v)) {
                    Some(v) => *v = Value::String(entry.clone()),
                    None => env.push(Value::String(entry.clone())),
                }
            }
        }
        let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        if let Some(e) = &changes.entrypoint {
            run.insert("Entrypoint".into(), strings(e));
        }
        if let Some(c) = &changes.cmd {
            run.insert("Cmd".into(), strings(c));
        }
        if let Some(w) = &changes.working_dir {
            run.insert("WorkingDir".into(), Value::String(w.clone()));
        }
        if !changes.labels.is_empty() {
            let labels = run.entry("Labels").or_insert_with(|| Value::Object(Map::new()));
            if labels.is_null() {
                *labels = Value::Object(Map::new());
            }
            let labels = labels.as_object_mut().ok_or_else(|| self.edit_error("`config.Labels` is not an object"))?;
            for (k, v) in &changes.labels {
                labels.insert(k.clone(), Value::String(v.clone()));
            }
        }
        if let Some(u) = &changes.user {
            run.insert("User".into(), Value::String(u.clone()));
        }
        if !changes.exposed_ports.is_empty() {
            let ports = run.entry("ExposedPorts").or_insert_with(|| Value::Object(Map::new()));
            if ports.is_null() {
                *ports = Value::Object(Map::new());
            }
            let ports =
                ports.as_object_mut().ok_or_else(|| self.edit_error("`config.ExposedPorts` is not an object"))?;
            for port in &changes.exposed_ports {
                ports.entry(port.clone()).or_insert_with(|| Value::Object(Map::new()));
            }
        }
        Ok(())
    }

    fn edit_error(&self, problem: &str) -> Error {
        Error::InvalidConfig { what: self.digest.to_string(), problem: problem.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"{"architecture":"amd64","zebra":{"keep":[1,2]},"config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"],"Labels":{"b":"2","a":"1"}},"created":"2020-01-01T00:00:00Z","history":[{"created":"2020-01-01T00:00:00Z","created_by":"base"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},"aardvark":true}"#;

    #[test]
    fn append_keeps_unknown_fields_and_key_order() {
        let c = Config::parse("base", BASE.as_bytes().to_vec()).unwrap();
        let d = Digest::sha256(b"x");
        let h = History {
            created: Some("2026-01-01T00:00:00Z".into()),
            created_by: Some("layerize".into()),
            ..Default::default()
        };
        let changes = ConfigChanges { created: Some("2026-01-01T00:00:00Z".into()), ..Default::default() };
        let out = c.with_layers(&[(d.clone(), h)], &changes).unwrap();
        let out = String::from_utf8(out).unwrap();
        let want = BASE
            .replace(r#"b7852b855"]}"#, &format!(r#"b7852b855","{d}"]}}"#))
            .replace(
                r#""created_by":"base"}]"#,
                r#""created_by":"base"},{"created":"2026-01-01T00:00:00Z","created_by":"layerize"}]"#,
            )
            .replace(r#""created":"2020-01-01T00:00:00Z","history""#, r#""created":"2026-01-01T00:00:00Z","history""#);
        assert_eq!(out, want);
        let again = Config::parse("new", out.into_bytes()).unwrap();
        assert_eq!(again.diff_ids().unwrap().len(), 2);
    }

    #[test]
    fn runtime_changes_replace_or_append() {
        let c = Config::parse("base", BASE.as_bytes().to_vec()).unwrap();
        let changes = ConfigChanges {
            env: vec!["PATH=/usr/bin:/bin".into(), "MODE=prod".into()],
            entrypoint: Some(vec!["/app/run".into()]),
            working_dir: Some("/app".into()),
            labels: vec![("a".into(), "9".into()), ("c".into(), "3".into())],
            ..Default::default()
        };
        let out = Config::parse("new", c.with_layers(&[], &changes).unwrap()).unwrap();
        let s = out.summary();
        assert_eq!(s.env, ["PATH=/usr/bin:/bin", "MODE=prod"]);
        assert_eq!(s.entrypoint, Some(vec!["/app/run".to_owned()]));
        assert_eq!(s.cmd, Some(vec!["/bin/sh".to_owned()]), "cmd kept");
        assert_eq!(s.working_dir.as_deref(), Some("/app"));
        assert_eq!(
            s.labels,
            [("b".to_owned(), "2".to_owned()), ("a".to_owned(), "9".to_owned()), ("c".to_owned(), "3".to_owned())]
        );
        assert!(String::from_utf8_lossy(out.raw()).contains(r#""zebra":{"keep":[1,2]}"#));
    }

    #[test]
    fn user_and_ports_are_set_and_the_rest_kept_in_place() {
        let base = r#"{"architecture":"amd64","config":{"User":"root","ExposedPorts":{"22/tcp":{}},"Odd":[1]},"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = Config::parse("base", base.as_bytes().to_vec()).unwrap();
        let changes = ConfigChanges {
            user: Some("65532:65532".into()),
            exposed_ports: vec!["8080/tcp".into(), "22/tcp".into(), "53/udp".into()],
            ..Default::default()
        };
        let out = String::from_utf8(c.with_layers(&[], &changes).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"architecture":"amd64","config":{"User":"65532:65532","ExposedPorts":{"22/tcp":{},"8080/tcp":{},"53/udp":{}},"Odd":[1]},"os":"linux","rootfs":{"type":"layers","diff_ids":[]},"history":[]}"#
        );
        let s = Config::parse("new", out.into_bytes()).unwrap().summary();
        assert_eq!(s.user.as_deref(), Some("65532:65532"));
        assert_eq!(s.exposed_ports, ["22/tcp", "8080/tcp", "53/udp"]);
    }

    #[test]
    fn user_and_ports_go_into_a_missing_or_null_config() {
        let changes =
            ConfigChanges { user: Some("app".into()), exposed_ports: vec!["80/tcp".into()], ..Default::default() };
        for base in [r#"{"os":"linux"}"#, r#"{"os":"linux","config":null}"#] {
            let c = Config::parse("scratch", base.as_bytes().to_vec()).unwrap();
            let out = String::from_utf8(c.with_layers(&[], &changes).unwrap()).unwrap();
            assert!(out.contains(r#""config":{"User":"app","ExposedPorts":{"80/tcp":{}}}"#), "{base}: {out}");
        }
        let c = Config::parse("odd", br#"{"os":"linux","config":[]}"#.to_vec()).unwrap();
        let err = c.with_layers(&[], &changes).unwrap_err();
        assert!(err.to_string().contains("`config` is not an object"), "{err}");
    }

    #[test]
    fn ports_parse_as_expose_writes_them() {
        for (input, want) in [
            ("8080", Ok("8080/tcp")),
            ("8080/tcp", Ok("8080/tcp")),
            ("53/UDP", Ok("53/udp")),
            ("9/sctp", Ok("9/sctp")),
            ("0", Err("is not PORT")),
            ("65536", Err("is not PORT")),
            ("+80", Err("is not PORT")),
            ("", Err("is not PORT")),
            ("80/http", Err("protocol must be")),
        ] {
            match (ConfigChanges::parse_port(input), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{input}: {got}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn summary_reads_the_config() {
        let c = Config::parse("base", BASE.as_bytes().to_vec()).unwrap();
        let s = c.summary();
        assert_eq!(s.platform, "linux/amd64");
        assert_eq!(s.cmd, Some(vec!["/bin/sh".to_owned()]));
        assert_eq!(s.labels, vec![("b".to_owned(), "2".to_owned()), ("a".to_owned(), "1".to_owned())]);
        assert_eq!(c.history().len(), 1);
    }

    #[test]
    fn bad_configs_are_named() {
        let e = Config::parse("cfg-x", b"[]".to_vec()).unwrap_err();
        assert!(e.to_string().contains("cfg-x"), "{e}");
        let e = Config::parse("cfg-y", br#"{"rootfs":{"diff_ids":["nope"]}}"#.to_vec()).unwrap_err();
        assert!(e.to_string().contains("diff_ids"), "{e}");
    }
}
