//! Manifest and index bytes as a registry (or an archive) serves them, with each of the
//! `Content-Type`s a server may send, then everything that reads the parsed view: the
//! `inspect` reports and platform selection.
//! Properties: parsing never panics; the digest is over the raw bytes, which are kept as is.
#![no_main]

use layerize_core::inspect::{why_not_an_image, ImageReport, IndexReport};
use layerize_core::manifest::Manifest;
use layerize_core::{Digest, Platform};
use libfuzzer_sys::fuzz_target;

/// What the first input byte picks as the `Content-Type` the server sent.
const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/vnd.oci.image.index.v1+json"),
    Some("application/vnd.oci.image.manifest.v1+json"),
    Some("application/vnd.docker.distribution.manifest.list.v2+json"),
    Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"),
    Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
    Some("application/json"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, raw)) = data.split_first() else { return };
    let content_type = CONTENT_TYPES[usize::from(pick) % CONTENT_TYPES.len()];
    let Ok(manifest) = Manifest::parse("fuzz", raw.to_vec(), content_type) else { return };
    assert_eq!(manifest.raw(), raw);
    assert_eq!(manifest.digest(), &Digest::sha256(raw));
    match &manifest {
        Manifest::Image(image) => {
            assert!(image.media_type().is_image_manifest());
            let _ = why_not_an_image(image);
            let report = ImageReport::new(image, None);
            assert_eq!(report.layers.len(), image.layers.len());
            let _ = serde_json::to_vec(&report);
            let d = image.descriptor();
            assert_eq!(d.size, raw.len() as u64);
            for layer in &image.layers {
                let _ = (layer.media_type.is_layer(), layer.media_type.layer_compression(), layer.is_attestation());
            }
        }
        Manifest::Index(index) => {
            assert!(index.media_type().is_index());
            let report = IndexReport::new(index);
            assert_eq!(report.manifests.len(), index.manifests.len());
            let _ = serde_json::to_vec(&report);
            for want in [Platform::new("linux", "amd64", None), Platform::new("linux", "arm64", Some("v8"))] {
                if let Ok(chosen) = want.select(&index.manifests) {
                    assert!(chosen.platform.as_ref().is_some_and(|p| want.matches(p)));
                }
            }
        }
    }
});
