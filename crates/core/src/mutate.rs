//! Appending layers to an image: base manifest and config + new layers → new config bytes
//! and new manifest bytes; and rewriting an index to point at the new images.
//!
//! Only what changes is edited, through order-preserving JSON, so unknown fields (annotations,
//! `subject`, vendor extensions) survive. New layers take the media type of the base's family.

use serde_json::{Map, Value};

use crate::config::{Config, ConfigChanges, History};
use crate::descriptor::{Descriptor, REFERENCE_DIGEST};
use crate::digest::Digest;
use crate::error::Error;
use crate::layer::LayerDigests;
use crate::manifest::{ImageManifest, Index, Manifest};
use crate::media_type::MediaType;

/// A layer to append, with the history entry that describes it.
#[derive(Clone, Debug)]
pub struct NewLayer {
    pub digests: LayerDigests,
    pub history: History,
}

/// The result of an append: new config and manifest, as bytes and descriptors.
#[derive(Clone, Debug)]
pub struct Appended {
    pub config: Vec<u8>,
    pub config_descriptor: Descriptor,
    pub manifest: Vec<u8>,
    pub manifest_descriptor: Descriptor,
    /// Descriptors of the appended layers, as written into the manifest.
    pub layers: Vec<Descriptor>,
}

impl Appended {
    /// The new manifest and config as typed views over their bytes, for whatever lists the
    /// image (an archive's `manifest.json` and `index.json`) rather than pushing bytes.
    pub fn image(&self) -> Result<(ImageManifest, Config), Error> {
        let what = self.manifest_descriptor.digest.to_string();
        let manifest =
            match Manifest::parse(&what, self.manifest.clone(), Some(self.manifest_descriptor.media_type.as_str()))? {
                Manifest::Image(m) => m,
                Manifest::Index(_) => {
                    return Err(Error::Mutate {
                        what,
                        problem: "the appended manifest is an index, not an image manifest".into(),
                    })
                }
            };
        let config = Config::parse(&self.config_descriptor.digest.to_string(), self.config.clone())?;
        Ok((manifest, config))
    }
}

/// Appends `layers` to the image `manifest` + `config`, applying `changes` to the config.
pub fn append(
    manifest: &ImageManifest,
    config: &Config,
    layers: &[NewLayer],
    changes: &ConfigChanges,
) -> Result<Appended, Error> {
    let what = manifest.digest().to_string();
    let fail = |problem: String| Error::Mutate { what: what.clone(), problem };
    let family = manifest
        .media_type()
        .family()
        .ok_or_else(|| fail(format!("unknown manifest family {}", manifest.media_type())))?;
    if !matches!(manifest.config.media_type, MediaType::DockerConfig | MediaType::OciConfig) {
        return Err(Error::UnsupportedMediaType {
            what,
            media_type: manifest.config.media_type.to_string(),
            hint:
                "the manifest describes an artifact, not a container image, so there is no filesystem to add a layer to",
        });
    }
    if config.digest() != &manifest.config.digest {
        return Err(fail(format!(
            "config {} is not the one the manifest names ({})",
            config.digest(),
            manifest.config.digest
        )));
    }
    let base_ids = config.diff_ids().map_err(|e| fail(format!("config rootfs.diff_ids: {e}")))?;
    if base_ids.len() != manifest.layers.len() {
        return Err(fail(format!(
            "the manifest has {} layers but the config lists {} diff_ids",
            manifest.layers.len(),
            base_ids.len()
        )));
    }

    let additions: Vec<(Digest, History)> =
        layers.iter().map(|l| (l.digests.diff_id.clone(), l.history.clone())).collect();
    let new_config = config.with_layers(&additions, changes)?;
    let config_descriptor =
        Descriptor::new(manifest.config.media_type.clone(), Digest::sha256(&new_config), new_config.len() as u64);
    let layer_descriptors: Vec<Descriptor> =
        layers.iter().map(|l| Descriptor::new(family.gzip_layer(), l.digests.digest.clone(), l.digests.size)).collect();

    let mut doc: Map<String, Value> = serde_json::from_slice(manifest.raw()).map_err(|e| fail(e.to_string()))?;
    let cfg = doc
        .get_mut("config")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| fail("manifest has no config object".into()))?;
    cfg.insert("digest".into(), Value::String(config_descriptor.digest.to_string()));
    cfg.insert("size".into(), Value::from(config_descriptor.size));
    let list = doc.entry("layers").or_insert_with(|| Value::Array(Vec::new()));
    let list = list.as_array_mut().ok_or_else(|| fail("manifest `layers` is not an array".into()))?;
    list.extend(layer_descriptors.iter().map(Descriptor::to_json));
    let new_manifest = serde_json::to_vec(&doc).map_err(|e| fail(e.to_string()))?;
    let manifest_descriptor =
        Descriptor::new(manifest.media_type().clone(), Digest::sha256(&new_manifest), new_manifest.len() as u64);
    Ok(Appended {
        config: new_config,
        config_descriptor,
        manifest: new_manifest,
        manifest_descriptor,
        layers: layer_descriptors,
    })
}

/// An index whose entries for replaced images point at their new manifests. Attestations
/// about a replaced image are dropped (they describe the old image, not the new one), and so
/// are those about an image the index does not hold (they would dangle).
pub fn replace_in_index(index: &Index, replaced: &[(Digest, Descriptor)]) -> Result<(Vec<u8>, Descriptor), Error> {
    let fail = |problem: String| Error::Mutate { what: index.digest().to_string(), problem };
    let mut doc: Map<String, Value> = serde_json::from_slice(index.raw()).map_err(|e| fail(e.to_string()))?;
    let entries = doc
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| fail("index has no `manifests` array".into()))?;
    let find = |d: &str| replaced.iter().find(|(old, _)| old.as_str() == d);
    // Digests of the images that stay unchanged: an attestation may only stay if it is
    // about one of them.
    let kept: Vec<String> = entries
        .iter()
        .filter(|e| e.get("annotations").is_none_or(|a| a.get(REFERENCE_DIGEST).is_none()))
        .filter_map(|e| e.get("digest").and_then(Value::as_str))
        .filter(|d| find(d).is_none())
        .map(str::to_owned)
        .collect();
    entries.retain(|e| {
        let about = e.get("annotations").and_then(|a| a.get(REFERENCE_DIGEST)).and_then(Value::as_str);
        about.is_none_or(|d| kept.iter().any(|k| k == d))
    });
    for entry in entries.iter_mut() {
        let Some(obj) = entry.as_object_mut() else { continue };
        let Some((_, new)) = obj.get("digest").and_then(Value::as_str).and_then(find) else { continue };
        obj.insert("digest".into(), Value::String(new.digest.to_string()));
        obj.insert("size".into(), Value::from(new.size));
    }
    let bytes = serde_json::to_vec(&doc).map_err(|e| fail(e.to_string()))?;
    let descriptor = Descriptor::new(index.media_type().clone(), Digest::sha256(&bytes), bytes.len() as u64);
    Ok((bytes, descriptor))
}

/// The media type a new layer gets on top of `manifest`.
pub fn layer_media_type(manifest: &ImageManifest) -> Option<MediaType> {
    manifest.media_type().family().map(|f| f.gzip_layer())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> (ImageManifest, Config) {
        let config = br#"{"architecture":"amd64","os":"linux","x-vendor":1,"rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},"history":[{"created_by":"base"}]}"#.to_vec();
        let cd = Digest::sha256(&config);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":1}}],"annotations":{{"keep":"me"}}}}"#,
            config.len()
        );
        let Manifest::Image(m) = Manifest::parse("base", manifest.into_bytes(), None).unwrap() else { panic!() };
        (m, Config::parse("cfg", config).unwrap())
    }

    #[test]
    fn append_rewrites_config_and_manifest_consistently() {
        let (m, c) = base();
        let layer = NewLayer {
            digests: LayerDigests {
                diff_id: Digest::sha256(b"tar"),
                digest: Digest::sha256(b"gz"),
                size: 2,
                tar_size: 3,
            },
            history: History { created_by: Some("layerize".into()), ..Default::default() },
        };
        let changes = ConfigChanges { created: Some("2026-11-24T00:00:00Z".into()), ..Default::default() };
        let out = append(&m, &c, &[layer], &changes).unwrap();
        let (typed, typed_config) = out.image().unwrap();
        assert_eq!(typed.digest(), &out.manifest_descriptor.digest);
        assert_eq!(typed_config.digest(), &out.config_descriptor.digest);
        assert_eq!(out.config_descriptor.digest, Digest::sha256(&out.config));
        assert_eq!(out.manifest_descriptor.digest, Digest::sha256(&out.manifest));
        let Manifest::Image(nm) = Manifest::parse("new", out.manifest.clone(), None).unwrap() else { panic!() };
        assert_eq!(nm.config.digest, out.config_descriptor.digest);
        assert_eq!(nm.layers.len(), 2);
        assert_eq!(nm.layers[1].media_type, MediaType::OciLayerGzip);
        assert_eq!(nm.layers[1].digest, Digest::sha256(b"gz"));
        assert!(String::from_utf8(out.manifest).unwrap().ends_with(r#""annotations":{"keep":"me"}}"#));
        let nc = Config::parse("new", out.config).unwrap();
        assert_eq!(nc.diff_ids().unwrap()[1], Digest::sha256(b"tar"));
        assert_eq!(nc.history().len(), 2);
        assert!(String::from_utf8_lossy(nc.raw()).contains(r#""x-vendor":1"#));
    }

    #[test]
    fn mismatched_config_is_refused() {
        let (m, _) = base();
        let other = Config::parse("other", br#"{"rootfs":{"diff_ids":[]}}"#.to_vec()).unwrap();
        let e = append(&m, &other, &[], &ConfigChanges::default()).unwrap_err();
        assert!(e.to_string().contains("not the one the manifest names"), "{e}");
    }

    #[test]
    fn index_entries_are_replaced_and_stale_attestations_dropped() {
        let a = Digest::sha256(b"a");
        let b = Digest::sha256(b"b");
        let raw = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{a}","size":1,"platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{b}","size":1,"platform":{{"architecture":"unknown","os":"unknown"}},"annotations":{{"vnd.docker.reference.digest":"{a}","vnd.docker.reference.type":"attestation-manifest"}}}}]}}"#
        );
        let Manifest::Index(idx) = Manifest::parse("idx", raw.into_bytes(), None).unwrap() else { panic!() };
        let new = Descriptor::new(MediaType::OciManifest, Digest::sha256(b"new"), 42);
        let (bytes, desc) = replace_in_index(&idx, &[(a, new.clone())]).unwrap();
        assert_eq!(desc.digest, Digest::sha256(&bytes));
        let Manifest::Index(n) = Manifest::parse("n", bytes, None).unwrap() else { panic!() };
        assert_eq!(n.manifests.len(), 1);
        assert_eq!(n.manifests[0].digest, new.digest);
        assert_eq!(n.manifests[0].size, 42);
        assert_eq!(n.manifests[0].platform.as_ref().unwrap().to_string(), "linux/amd64");
    }
}
