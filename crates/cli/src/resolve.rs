//! Choosing the one image a reference means: the manifest itself, or an index's entry for a
//! platform (this machine's unless one is asked for, as Docker and skopeo choose); or, for the
//! base named [`SCRATCH`], an empty image made here.

use anyhow::{bail, Result};
use layerize_core::config::Config;
use layerize_core::descriptor::Descriptor;
use layerize_core::manifest::{ImageManifest, Manifest};
use layerize_core::media_type::MediaType;
use layerize_core::{Digest, Platform};
use serde_json::json;

/// The platform taken from an index when none is asked for.
pub fn host_platform() -> Platform {
    Platform::from_rust("linux", std::env::consts::ARCH)
}

/// The base name that means "no base": an image with no layers, as `FROM scratch` and
/// `crane append` (without `--base`) start from.
pub const SCRATCH: &str = "scratch";

/// The empty image for `platform`: an OCI manifest with no layers over a config that names
/// only the platform and an empty `rootfs.diff_ids`. Nothing is fetched; an append pushes (or
/// writes) this config and manifest as rewritten, never these bytes themselves.
pub fn scratch(platform: &Platform) -> Result<(ImageManifest, Config)> {
    let mut config = json!({"architecture": platform.architecture, "os": platform.os});
    if let Some(variant) = &platform.variant {
        config["variant"] = json!(variant);
    }
    config["config"] = json!({});
    config["rootfs"] = json!({"type": "layers", "diff_ids": []});
    let config_bytes = serde_json::to_vec(&config)?;
    let descriptor = Descriptor::new(MediaType::OciConfig, Digest::sha256(&config_bytes), config_bytes.len() as u64);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MediaType::OciManifest.as_str(),
        "config": descriptor.to_json(),
        "layers": [],
    });
    let manifest = match Manifest::parse(SCRATCH, serde_json::to_vec(&manifest)?, None)? {
        Manifest::Image(image) => image,
        Manifest::Index(_) => bail!("the scratch manifest parsed as an index"),
    };
    Ok((manifest, Config::parse(SCRATCH, config_bytes)?))
}

/// Parses `--platform`, if given.
pub fn platform_arg(arg: Option<&str>) -> Result<Option<Platform>> {
    Ok(arg.map(str::parse).transpose()?)
}

#[cfg(test)]
mod tests {
    use layerize_core::config::{ConfigChanges, History};
    use layerize_core::layer::LayerDigests;
    use layerize_core::mutate::{self, NewLayer};

    use super::*;

    #[test]
    fn scratch_is_an_empty_image_of_the_platform() {
        let (manifest, config) = scratch(&"linux/arm64/v8".parse().expect("platform")).expect("scratch");
        assert!(manifest.layers.is_empty());
        assert_eq!(manifest.media_type(), &MediaType::OciManifest);
        assert_eq!(manifest.config.digest, *config.digest());
        assert_eq!(
            String::from_utf8_lossy(config.raw()),
            r#"{"architecture":"arm64","os":"linux","variant":"v8","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#
        );
        assert_eq!(config.platform().to_string(), "linux/arm64/v8");
        assert_eq!(config.diff_ids().expect("diff_ids"), []);
        assert!(config.history().is_empty());

        let (_, here) = scratch(&host_platform()).expect("scratch");
        assert_eq!(here.platform(), host_platform());
    }

    #[test]
    fn appending_to_scratch_gives_a_one_layer_image() {
        let (manifest, config) = scratch(&host_platform()).expect("scratch");
        let layer = NewLayer {
            digests: LayerDigests {
                diff_id: Digest::sha256(b"tar"),
                digest: Digest::sha256(b"gzip"),
                size: 4,
                tar_size: 3,
            },
            history: History { created_by: Some("test".into()), ..Default::default() },
        };
        let changes = ConfigChanges { user: Some("65532:65532".into()), ..Default::default() };
        let appended = mutate::append(&manifest, &config, &[layer], &changes).expect("append");
        let (image, config) = appended.image().expect("image");
        assert_eq!(image.layers.len(), 1);
        assert_eq!(image.layers[0].media_type, MediaType::OciLayerGzip);
        assert_eq!(config.diff_ids().expect("diff_ids"), [Digest::sha256(b"tar")]);
        assert_eq!(config.history().len(), 1);
        assert_eq!(config.summary().user.as_deref(), Some("65532:65532"));
    }
}
