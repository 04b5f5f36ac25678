//! What `inspect` shows of an index or an image: a plain, serialisable report derived from the
//! manifest and config views, with attestations and artifacts labelled (never hidden) and each
//! history step paired with the layer it made.
//!
//! The CLI renders it as text or JSON; the page can render the same report.

use serde::Serialize;

use crate::config::{Config, History, Summary};
use crate::descriptor::{Descriptor, REFERENCE_DIGEST};
use crate::digest::Digest;
use crate::manifest::{ImageManifest, Index};
use crate::media_type::MediaType;

/// What an index entry or a manifest is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A container image: a runnable filesystem and a config.
    Image,
    /// An index inside an index.
    Index,
    /// An attestation (SBOM, provenance) about an image in the same index.
    Attestation,
    /// Anything else a registry stores: Helm charts, signatures, other artifacts.
    Artifact,
}

/// A report on whatever a reference names.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Report {
    Index(IndexReport),
    Image(Box<ImageReport>),
}

#[derive(Clone, Debug, Serialize)]
pub struct IndexReport {
    pub digest: Digest,
    pub media_type: MediaType,
    pub size: u64,
    pub manifests: Vec<IndexEntry>,
}

/// One entry of an index, as listed.
#[derive(Clone, Debug, Serialize)]
pub struct IndexEntry {
    pub role: Role,
    /// `os/arch[/variant]`, if the entry has a platform.
    pub platform: Option<String>,
    pub digest: Digest,
    pub media_type: MediaType,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// For an attestation: the image it is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub describes: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ImageReport {
    pub digest: Digest,
    pub media_type: MediaType,
    pub size: u64,
    pub role: Role,
    /// Why an artifact is not a container image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub config: ConfigReport,
    pub history: Vec<Step>,
    pub layers: Vec<LayerReport>,
    /// Sum of the layer blob sizes (what a pull downloads, besides config and manifest);
    /// `u64::MAX` for a manifest whose sizes add up to more.
    pub layers_size: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConfigReport {
    pub digest: Digest,
    pub media_type: MediaType,
    pub size: u64,
    /// Absent when the config is not an image config (an artifact's).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
}

/// One history step, with the layer it made (counted from 1), if it made one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    #[serde(flatten)]
    pub history: History,
    pub layer: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerReport {
    /// Counted from 1, as `ls --layer` counts.
    pub number: usize,
    pub digest: Digest,
    pub media_type: MediaType,
    pub size: u64,
    /// From the config's `rootfs.diff_ids`, when it lists this layer.
    pub diff_id: Option<Digest>,
}

impl IndexReport {
    pub fn new(index: &Index) -> IndexReport {
        IndexReport {
            digest: index.digest().clone(),
            media_type: index.media_type().clone(),
            size: index.raw().len() as u64,
            manifests: index.manifests.iter().map(IndexEntry::new).collect(),
        }
    }
}

impl IndexEntry {
    fn new(d: &Descriptor) -> IndexEntry {
        let role = if d.is_attestation() {
            Role::Attestation
        } else if d.media_type.is_index() {
            Role::Index
        } else if d.media_type.is_image_manifest() && d.artifact_type.is_none() {
            Role::Image
        } else {
            Role::Artifact
        };
        IndexEntry {
            role,
            platform: d.platform.as_ref().map(ToString::to_string),
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            size: d.size,
            artifact_type: d.artifact_type.clone(),
            describes: d.annotations.get(REFERENCE_DIGEST).filter(|_| role == Role::Attestation).cloned(),
        }
    }
}

impl ImageReport {
    /// The report on `manifest`; `config` is its parsed config when it is an image config.
    pub fn new(manifest: &ImageManifest, config: Option<&Config>) -> ImageReport {
        let note = why_not_an_image(manifest);
        let diff_ids = config.and_then(|c| c.diff_ids().ok()).unwrap_or_default();
        let layers: Vec<LayerReport> = manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, d)| LayerReport {
                number: i + 1,
                digest: d.digest.clone(),
                media_type: d.media_type.clone(),
                size: d.size,
                diff_id: diff_ids.get(i).cloned(),
            })
            .collect();
        let history = config.map(|c| pair_history(c.history(), layers.len())).unwrap_or_default();
        ImageReport {
            digest: manifest.digest().clone(),
            media_type: manifest.media_type().clone(),
            size: manifest.raw().len() as u64,
            role: if note.is_some() { Role::Artifact } else { Role::Image },
            note,
            config: ConfigReport {
                digest: manifest.config.digest.clone(),
                media_type: manifest.config.media_type.clone(),
                size: manifest.config.size,
                summary: config.map(Config::summary),
            },
            history,
            // Sizes come from the manifest, which anyone may write: a plain sum overflows.
            layers_size: layers.iter().fold(0u64, |total, l| total.saturating_add(l.size)),
            layers,
        }
    }
}

/// Why `manifest` has no filesystem to list or add to, if it has none.
pub fn why_not_an_image(manifest: &ImageManifest) -> Option<String> {
    let config = &manifest.config.media_type;
    if !matches!(config, MediaType::DockerConfig | MediaType::OciConfig) {
        return Some(format!("its config has media type {config}: it is an artifact, not a container image"));
    }
    let (i, layer) = manifest.layers.iter().enumerate().find(|(_, l)| !l.media_type.is_layer())?;
    Some(format!("layer {} has media type {}, which is not a filesystem layer", i + 1, layer.media_type))
}

/// Steps that are not `empty_layer` made the layers, in order. Steps beyond the last layer
/// (a config that lies) get none.
fn pair_history(history: Vec<History>, layers: usize) -> Vec<Step> {
    let mut next = 0;
    history
        .into_iter()
        .map(|h| {
            let layer = (!h.empty_layer && next < layers).then(|| {
                next += 1;
                next
            });
            Step { history: h, layer }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    const CONFIG: &str = r#"{"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05Z",
        "config":{"Entrypoint":["/bin/sh","-c"],"Cmd":["echo hi"],"Env":["A=1"],"WorkingDir":"/srv","User":"app",
        "ExposedPorts":{"8080/tcp":{}},"Labels":{"z":"last","a":"first"}},
        "rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111","sha256:2222222222222222222222222222222222222222222222222222222222222222"]},
        "history":[{"created_by":"ADD base"},{"created_by":"ENV A=1","empty_layer":true},{"created_by":"COPY app"}]}"#;

    fn manifest(config_type: &str, layer_type: &str) -> ImageManifest {
        let cfg = Digest::sha256(CONFIG.as_bytes());
        let raw = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{{"mediaType":"{config_type}","digest":"{cfg}","size":{}}},
            "layers":[{{"mediaType":"{layer_type}","digest":"{}","size":100}},
                      {{"mediaType":"{layer_type}","digest":"{}","size":23}}]}}"#,
            CONFIG.len(),
            Digest::sha256(b"1"),
            Digest::sha256(b"2"),
        );
        match Manifest::parse("t", raw.into_bytes(), None).unwrap() {
            Manifest::Image(m) => m,
            Manifest::Index(_) => panic!("index"),
        }
    }

    #[test]
    fn history_steps_are_paired_with_layers() {
        let m = manifest("application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip");
        let config = Config::parse("c", CONFIG.as_bytes().to_vec()).unwrap();
        let r = ImageReport::new(&m, Some(&config));
        assert_eq!((r.role, r.layers_size), (Role::Image, 123));
        let paired: Vec<(Option<&str>, Option<usize>)> =
            r.history.iter().map(|s| (s.history.created_by.as_deref(), s.layer)).collect();
        assert_eq!(paired, [(Some("ADD base"), Some(1)), (Some("ENV A=1"), None), (Some("COPY app"), Some(2))]);
        assert_eq!(
            r.layers[1].diff_id.as_ref().map(Digest::as_str),
            Some("sha256:2222222222222222222222222222222222222222222222222222222222222222")
        );
        let json = serde_json::to_value(Report::Image(Box::new(r))).unwrap();
        assert_eq!(json["kind"], "image");
        assert_eq!(
            json["config"]["labels"].to_string(),
            r#"{"z":"last","a":"first"}"#,
            "labels keep the config's order"
        );
        assert_eq!(json["config"]["entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
        assert_eq!(json["history"][1]["empty_layer"], true);
        assert_eq!(json["history"][2]["layer"], 2);
    }

    #[test]
    fn layer_sizes_that_overflow_saturate() {
        // Two layers of u64::MAX bytes overflowed the sum: a panic in debug builds, a wrong
        // total in release ones (reproduced by the `manifest` fuzz target).
        let d = Digest::sha256(b"");
        let raw = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{d}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":{max}}},
                      {{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":{max}}}]}}"#,
            max = u64::MAX,
        );
        let Manifest::Image(m) = Manifest::parse("t", raw.into_bytes(), None).unwrap() else { panic!("not an image") };
        assert_eq!(ImageReport::new(&m, None).layers_size, u64::MAX);
    }

    #[test]
    fn artifacts_are_labelled_with_the_reason() {
        let helm =
            manifest("application/vnd.cncf.helm.config.v1+json", "application/vnd.cncf.helm.chart.content.v1.tar+gzip");
        let r = ImageReport::new(&helm, None);
        assert_eq!(r.role, Role::Artifact);
        assert!(
            r.note.as_deref().is_some_and(|n| n.contains("application/vnd.cncf.helm.config.v1+json")),
            "{:?}",
            r.note
        );
        let attestation = manifest("application/vnd.oci.image.config.v1+json", "application/vnd.in-toto+json");
        assert_eq!(
            why_not_an_image(&attestation).as_deref(),
            Some("layer 1 has media type application/vnd.in-toto+json, which is not a filesystem layer")
        );
    }

    #[test]
    fn index_entries_are_all_listed_with_roles() {
        let raw = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":10,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","size":11,"platform":{"architecture":"unknown","os":"unknown"},
             "annotations":{"vnd.docker.reference.type":"attestation-manifest","vnd.docker.reference.digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","size":12,"artifactType":"application/vnd.dev.sigstore.bundle+json"}]}"#;
        let Manifest::Index(index) = Manifest::parse("i", raw.to_vec(), None).unwrap() else { panic!("not an index") };
        let r = IndexReport::new(&index);
        let roles: Vec<(Role, Option<&str>)> = r.manifests.iter().map(|e| (e.role, e.platform.as_deref())).collect();
        assert_eq!(
            roles,
            [
                (Role::Image, Some("linux/arm64/v8")),
                (Role::Attestation, Some("unknown/unknown")),
                (Role::Artifact, None)
            ]
        );
        assert_eq!(
            r.manifests[1].describes.as_deref(),
            Some("sha256:1111111111111111111111111111111111111111111111111111111111111111")
        );
    }
}
