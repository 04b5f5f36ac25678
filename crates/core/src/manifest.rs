//! Typed views over raw manifest and index bytes.
//!
//! The raw bytes are the truth: the digest of a manifest is the digest of the bytes the
//! registry served, so a view keeps them and never re-serialises what it did not change.

use serde::Deserialize;

use crate::descriptor::Descriptor;
use crate::digest::Digest;
use crate::error::Error;
use crate::media_type::MediaType;

/// A manifest as fetched: an image manifest or an index of them.
#[derive(Clone, Debug)]
pub enum Manifest {
    Image(ImageManifest),
    Index(Index),
}

/// A single-platform image manifest (Docker v2 schema 2 or OCI).
#[derive(Clone, Debug)]
pub struct ImageManifest {
    raw: Vec<u8>,
    digest: Digest,
    media_type: MediaType,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// A multi-platform index (Docker manifest list or OCI index).
#[derive(Clone, Debug)]
pub struct Index {
    raw: Vec<u8>,
    digest: Digest,
    media_type: MediaType,
    pub manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<u32>,
    media_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

impl Manifest {
    /// Parses manifest bytes. The media type comes from the document's own `mediaType`, else
    /// from the `Content-Type` the server sent, else from its shape (OCI allows omitting it).
    /// `what` names the manifest in errors (a reference or a digest).
    pub fn parse(what: &str, raw: Vec<u8>, content_type: Option<&str>) -> Result<Manifest, Error> {
        let bad = |problem: String| Error::InvalidManifest { what: what.to_owned(), problem };
        let probe: Probe = serde_json::from_slice(&raw).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let declared = probe.media_type.as_deref().map(MediaType::parse);
        let from_header = content_type.map(MediaType::parse).filter(|m| m.is_index() || m.is_image_manifest());
        let media_type = match (declared, from_header) {
            (Some(m), _) => m,
            (None, Some(m)) => m,
            (None, None) if probe.manifests.is_some() => MediaType::OciIndex,
            (None, None) if probe.config.is_some() => MediaType::OciManifest,
            (None, None) => MediaType::parse(content_type.unwrap_or("unknown")),
        };
        if matches!(media_type, MediaType::DockerSchema1 | MediaType::DockerSchema1Signed)
            || probe.schema_version == Some(1)
        {
            return Err(Error::UnsupportedMediaType {
                what: what.to_owned(),
                media_type: media_type.to_string(),
                hint: "Docker schema 1 manifests are deprecated; re-push the image with a current Docker or skopeo",
            });
        }
        let digest = Digest::sha256(&raw);
        if media_type.is_index() {
            let manifests = probe.manifests.ok_or_else(|| bad("an index without `manifests`".into()))?;
            Ok(Manifest::Index(Index { raw, digest, media_type, manifests }))
        } else if media_type.is_image_manifest() {
            let config = probe.config.ok_or_else(|| bad("an image manifest without `config`".into()))?;
            let layers = probe.layers.unwrap_or_default();
            Ok(Manifest::Image(ImageManifest { raw, digest, media_type, config, layers }))
        } else {
            Err(Error::UnsupportedMediaType {
                what: what.to_owned(),
                media_type: media_type.to_string(),
                hint: "expected a Docker v2 schema 2 or OCI image manifest, manifest list or index",
            })
        }
    }

    pub fn raw(&self) -> &[u8] {
        match self {
            Manifest::Image(m) => &m.raw,
            Manifest::Index(i) => &i.raw,
        }
    }

    pub fn digest(&self) -> &Digest {
        match self {
            Manifest::Image(m) => &m.digest,
            Manifest::Index(i) => &i.digest,
        }
    }

    pub fn media_type(&self) -> &MediaType {
        match self {
            Manifest::Image(m) => &m.media_type,
            Manifest::Index(i) => &i.media_type,
        }
    }
}

impl ImageManifest {
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn media_type(&self) -> &MediaType {
        &self.media_type
    }

    /// The descriptor that points at this manifest.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(self.media_type.clone(), self.digest.clone(), self.raw.len() as u64)
    }
}

impl Index {
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn media_type(&self) -> &MediaType {
        &self.media_type
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = r#"{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 3, "digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
   "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 5, "digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]
}"#;

    #[test]
    fn digest_is_over_the_raw_bytes() {
        let m = Manifest::parse("t", DOCKER.as_bytes().to_vec(), None).unwrap();
        assert_eq!(m.digest(), &Digest::sha256(DOCKER.as_bytes()));
        assert_eq!(m.raw(), DOCKER.as_bytes());
        let Manifest::Image(img) = m else { panic!("not an image") };
        assert_eq!(img.media_type(), &MediaType::DockerManifest);
        assert_eq!(img.layers.len(), 1);
    }

    #[test]
    fn oci_without_media_type_uses_header_then_shape() {
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#.to_vec();
        let m = Manifest::parse("t", idx.clone(), None).unwrap();
        assert_eq!(m.media_type(), &MediaType::OciIndex);
        let m = Manifest::parse("t", idx, Some("application/vnd.docker.distribution.manifest.list.v2+json")).unwrap();
        assert_eq!(m.media_type(), &MediaType::DockerManifestList);
    }

    #[test]
    fn schema1_and_unknown_are_clear_errors() {
        let s1 = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#.to_vec();
        let e = Manifest::parse(
            "127.0.0.1:5000/old:1",
            s1,
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("schema 1"), "{e}");
        assert!(e.to_string().contains("127.0.0.1:5000/old:1"), "{e}");
        let art = br#"{"schemaVersion":2,"mediaType":"application/vnd.cncf.helm.chart"}"#.to_vec();
        let e = Manifest::parse("x", art, None).unwrap_err();
        assert!(matches!(e, Error::UnsupportedMediaType { .. }), "{e}");
        let e = Manifest::parse("x", b"<html>".to_vec(), None).unwrap_err();
        assert!(matches!(e, Error::InvalidManifest { .. }), "{e}");
    }
}
