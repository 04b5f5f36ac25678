//! Content descriptors: the `{mediaType, digest, size}` triples manifests and indexes point with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::media_type::MediaType;
use crate::platform::Platform;

/// A typed view of a descriptor. Reading only: edits to manifests go through the raw JSON so
/// that fields this struct does not know survive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: MediaType,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// Annotation BuildKit puts on attestation manifests inside an index.
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// Annotation naming the image manifest an attestation is about.
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";

impl Descriptor {
    pub fn new(media_type: MediaType, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type,
            digest,
            size,
            platform: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
            artifact_type: None,
        }
    }

    /// Attestations (SBOM, provenance) sit in indexes beside images with an
    /// `unknown/unknown` platform; they are not images anyone runs.
    pub fn is_attestation(&self) -> bool {
        self.annotations.get(REFERENCE_TYPE).is_some_and(|t| t == "attestation-manifest")
            || self.platform.as_ref().is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
    }

    /// The JSON object for this descriptor in the order Docker and OCI tools write it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
