//! `docker save`'s own files: `manifest.json` (per image: the config member, the tags and the
//! layer members, bottom first) and the older `repositories` (name → tag → top layer).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::member::normalize_file;
use crate::descriptor::Descriptor;
use crate::error::Error;
use crate::manifest::{ImageManifest, Manifest};
use crate::media_type::MediaType;
use crate::reference::{Reference, DOCKER_HUB};

/// The name of the member `docker load` starts from.
pub const MANIFEST_JSON: &str = "manifest.json";
/// The name of the legacy tag list.
pub const REPOSITORIES: &str = "repositories";

/// One image of `manifest.json`. Paths are member names as written (`./` prefixes and all).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestEntry {
    pub config: String,
    /// Docker writes `null` for an image saved by ID.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub repo_tags: Vec<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub layers: Vec<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// Parses `manifest.json`, refusing member paths that leave the archive.
pub fn parse_manifest_json(bytes: &[u8]) -> Result<Vec<ManifestEntry>, Error> {
    let bad = |problem: String| Error::InvalidMember { member: MANIFEST_JSON.into(), problem };
    let entries: Vec<ManifestEntry> = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("is not a docker save manifest (a JSON list of images): {e}")))?;
    if entries.is_empty() {
        return Err(bad("lists no images".into()));
    }
    for (i, entry) in entries.iter().enumerate() {
        for path in std::iter::once(&entry.config).chain(&entry.layers) {
            normalize_file(path).map_err(|e| bad(format!("image {}: {e}", i + 1)))?;
        }
    }
    Ok(entries)
}

/// A Docker v2 schema 2 manifest over a `manifest.json` image's config and layers, for an
/// archive that holds no manifest of its own (legacy `docker save`). `what` names the image.
pub fn docker_manifest(what: &str, config: &Descriptor, layers: &[Descriptor]) -> Result<ImageManifest, Error> {
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MediaType::DockerManifest.as_str(),
        "config": config.to_json(),
        "layers": layers.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&doc)
        .map_err(|e| Error::InvalidMember { member: MANIFEST_JSON.into(), problem: e.to_string() })?;
    match Manifest::parse(what, bytes, None)? {
        Manifest::Image(manifest) => Ok(manifest),
        Manifest::Index(_) => Err(Error::InvalidMember {
            member: MANIFEST_JSON.into(),
            problem: format!("{what} built an index, not a manifest"),
        }),
    }
}

/// `manifest.json` bytes for `entries`, as Docker writes them (one JSON line).
pub fn manifest_json(entries: &[ManifestEntry]) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(entries).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// `repositories` bytes: familiar name → tag → the hex of the image's top layer, which is
/// what Docker 25 writes beside an OCI layout. `None` when no image has a tag.
pub fn repositories(entries: &[ManifestEntry]) -> Option<Vec<u8>> {
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for entry in entries {
        let Some(top) = entry.layers.last() else { continue };
        let top = top.rsplit('/').next().unwrap_or(top);
        for tag in &entry.repo_tags {
            if let Some((name, tag)) = tag.rsplit_once(':').filter(|(n, t)| !t.contains('/') && !n.is_empty()) {
                repos.entry(name.to_owned()).or_default().insert(tag.to_owned(), top.to_owned());
            }
        }
    }
    if repos.is_empty() {
        return None;
    }
    let mut bytes = serde_json::to_vec(&repos).unwrap_or_default();
    bytes.push(b'\n');
    Some(bytes)
}

/// The name as Docker shows it in `RepoTags`: Docker Hub's `docker.io/` and `library/` left
/// out (`alpine:3`, `user/app:1`, `127.0.0.1:5000/app:1`). `None` without a tag.
pub fn familiar_tag(reference: &Reference) -> Option<String> {
    let tag = reference.tag()?;
    let name = if reference.registry() == DOCKER_HUB {
        reference.repository().strip_prefix("library/").unwrap_or(reference.repository()).to_owned()
    } else {
        reference.name()
    };
    Some(format!("{name}:{tag}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_docker_writes() {
        let legacy = br#"[{"Config":"8a1f.json","RepoTags":["alpine:3"],"Layers":["./0b1c/layer.tar","9d2e/layer.tar"]},{"Config":"ff.json","RepoTags":null,"Layers":["a/layer.tar"]}]"#;
        let entries = parse_manifest_json(legacy).unwrap();
        assert_eq!(entries[0].layers, ["./0b1c/layer.tar", "9d2e/layer.tar"]);
        assert!(entries[1].repo_tags.is_empty());
    }

    #[test]
    fn bad_manifests_name_the_member_and_entry() {
        let e =
            parse_manifest_json(br#"[{"Config":"c.json","RepoTags":[],"Layers":["../../etc/passwd"]}]"#).unwrap_err();
        assert!(matches!(&e, Error::InvalidMember { member, .. } if member == "manifest.json"), "{e}");
        assert!(e.to_string().contains("image 1") && e.to_string().contains("`..`"), "{e}");
        assert!(parse_manifest_json(b"{}").is_err());
        assert!(parse_manifest_json(b"[]").is_err());
    }

    #[test]
    fn writes_manifest_and_repositories() {
        let entry = ManifestEntry {
            config: "blobs/sha256/cc".into(),
            repo_tags: vec!["127.0.0.1:5000/app:1".into(), "alpine:3".into()],
            layers: vec!["blobs/sha256/aa".into(), "blobs/sha256/bb".into()],
        };
        let json = String::from_utf8(manifest_json(std::slice::from_ref(&entry))).unwrap();
        assert_eq!(json, "[{\"Config\":\"blobs/sha256/cc\",\"RepoTags\":[\"127.0.0.1:5000/app:1\",\"alpine:3\"],\"Layers\":[\"blobs/sha256/aa\",\"blobs/sha256/bb\"]}]\n");
        let repos = String::from_utf8(repositories(&[entry]).unwrap()).unwrap();
        assert_eq!(repos, "{\"127.0.0.1:5000/app\":{\"1\":\"bb\"},\"alpine\":{\"3\":\"bb\"}}\n");
    }

    #[test]
    fn familiar_names() {
        let f = |r: &str| familiar_tag(&r.parse().unwrap());
        assert_eq!(f("alpine:3").as_deref(), Some("alpine:3"));
        assert_eq!(f("user/app:1").as_deref(), Some("user/app:1"));
        assert_eq!(f("127.0.0.1:5000/app:1").as_deref(), Some("127.0.0.1:5000/app:1"));
        assert_eq!(f("ghcr.io/o/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), None);
    }
}
