//! Media types of manifests, indexes, configs and layers, Docker v2 schema 2 and OCI.

use std::fmt;

/// The media types this toolkit knows by name; anything else is kept verbatim in `Other`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum MediaType {
    DockerManifest,
    DockerManifestList,
    DockerConfig,
    DockerLayerGzip,
    /// An uncompressed Docker layer, as `docker load` tars hold them and as `layerize load`
    /// pushes them.
    DockerLayer,
    DockerForeignLayerGzip,
    DockerSchema1,
    DockerSchema1Signed,
    OciManifest,
    OciIndex,
    OciConfig,
    OciLayer,
    OciLayerGzip,
    OciLayerZstd,
    OciLayerNonDistributableGzip,
    OciEmpty,
    Other(String),
}

/// The `Accept` list for manifest requests: the four kinds this toolkit can read.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// How a layer blob is compressed. Travels from the page's worker to the page by name
/// (`"gzip"`), as it is shown.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Recognises a blob by its first bytes (gzip and zstd magic numbers); anything else is
    /// taken to be an uncompressed tar.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// Which spec family an image belongs to; new layers follow the base's family so the
/// manifest never mixes Docker and OCI layer types.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Family {
    Docker,
    Oci,
}

impl MediaType {
    pub fn as_str(&self) -> &str {
        use MediaType::*;
        match self {
            DockerManifest => "application/vnd.docker.distribution.manifest.v2+json",
            DockerManifestList => "application/vnd.docker.distribution.manifest.list.v2+json",
            DockerConfig => "application/vnd.docker.container.image.v1+json",
            DockerLayerGzip => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            DockerLayer => "application/vnd.docker.image.rootfs.diff.tar",
            DockerForeignLayerGzip => "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            DockerSchema1 => "application/vnd.docker.distribution.manifest.v1+json",
            DockerSchema1Signed => "application/vnd.docker.distribution.manifest.v1+prettyjws",
            OciManifest => "application/vnd.oci.image.manifest.v1+json",
            OciIndex => "application/vnd.oci.image.index.v1+json",
            OciConfig => "application/vnd.oci.image.config.v1+json",
            OciLayer => "application/vnd.oci.image.layer.v1.tar",
            OciLayerGzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            OciLayerZstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            OciLayerNonDistributableGzip => "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            OciEmpty => "application/vnd.oci.empty.v1+json",
            Other(s) => s,
        }
    }

    /// Parses a media type, ignoring parameters (`; charset=utf-8`) a server may add to a
    /// `Content-Type` header.
    pub fn parse(s: &str) -> MediaType {
        let bare = s.split(';').next().unwrap_or_default().trim();
        use MediaType::*;
        for known in [
            DockerManifest,
            DockerManifestList,
            DockerConfig,
            DockerLayerGzip,
            DockerLayer,
            DockerForeignLayerGzip,
            DockerSchema1,
            DockerSchema1Signed,
            OciManifest,
            OciIndex,
            OciConfig,
            OciLayer,
            OciLayerGzip,
            OciLayerZstd,
            OciLayerNonDistributableGzip,
            OciEmpty,
        ] {
            if known.as_str() == bare {
                return known;
            }
        }
        Other(bare.to_owned())
    }

    pub fn is_index(&self) -> bool {
        matches!(self, MediaType::DockerManifestList | MediaType::OciIndex)
    }

    pub fn is_image_manifest(&self) -> bool {
        matches!(self, MediaType::DockerManifest | MediaType::OciManifest)
    }

    pub fn family(&self) -> Option<Family> {
        use MediaType::*;
        match self {
            DockerManifest
            | DockerManifestList
            | DockerConfig
            | DockerLayerGzip
            | DockerLayer
            | DockerForeignLayerGzip => Some(Family::Docker),
            OciManifest
            | OciIndex
            | OciConfig
            | OciLayer
            | OciLayerGzip
            | OciLayerZstd
            | OciLayerNonDistributableGzip => Some(Family::Oci),
            _ => None,
        }
    }

    /// Whether a layer of this type is a tar we can read (gzip or uncompressed).
    pub fn is_layer(&self) -> bool {
        use MediaType::*;
        matches!(
            self,
            DockerLayerGzip
                | DockerLayer
                | DockerForeignLayerGzip
                | OciLayer
                | OciLayerGzip
                | OciLayerZstd
                | OciLayerNonDistributableGzip
        )
    }

    /// How a layer of this type is compressed, if it is a layer.
    pub fn layer_compression(&self) -> Option<Compression> {
        use MediaType::*;
        match self {
            DockerLayer | OciLayer => Some(Compression::None),
            DockerLayerGzip | DockerForeignLayerGzip | OciLayerGzip | OciLayerNonDistributableGzip => {
                Some(Compression::Gzip)
            }
            OciLayerZstd => Some(Compression::Zstd),
            _ => None,
        }
    }
}

impl Family {
    /// The media type for a gzip layer in this family.
    pub fn gzip_layer(self) -> MediaType {
        match self {
            Family::Docker => MediaType::DockerLayerGzip,
            Family::Oci => MediaType::OciLayerGzip,
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for MediaType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for MediaType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(MediaType::parse(&String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_strips_parameters() {
        let m = MediaType::parse("application/vnd.oci.image.manifest.v1+json; charset=utf-8");
        assert_eq!(m, MediaType::OciManifest);
        assert_eq!(MediaType::parse(MediaType::DockerManifestList.as_str()), MediaType::DockerManifestList);
        assert_eq!(MediaType::parse("text/plain"), MediaType::Other("text/plain".into()));
        assert_eq!(MediaType::parse("application/vnd.docker.image.rootfs.diff.tar"), MediaType::DockerLayer);
        assert_eq!(MediaType::DockerLayer.layer_compression(), Some(Compression::None));
        assert_eq!(MediaType::OciLayerGzip.layer_compression(), Some(Compression::Gzip));
        assert_eq!(MediaType::OciConfig.layer_compression(), None);
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(Compression::sniff(b"usr/"), Compression::None);
    }

    #[test]
    fn families() {
        assert_eq!(MediaType::DockerManifest.family(), Some(Family::Docker));
        assert_eq!(MediaType::OciIndex.family(), Some(Family::Oci));
        assert_eq!(MediaType::DockerSchema1Signed.family(), None);
        assert_eq!(Family::Oci.gzip_layer(), MediaType::OciLayerGzip);
    }
}
