//! The OCI image layout inside an archive: `oci-layout`, `index.json` and blobs stored under
//! `blobs/<algorithm>/<hex>`, with image names in the annotations Docker 25 and containerd
//! write.

use crate::descriptor::Descriptor;
use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::{Index, Manifest};
use crate::media_type::MediaType;
use crate::reference::Reference;

/// The member that marks an OCI layout, and its one version.
pub const OCI_LAYOUT: &str = "oci-layout";
pub const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// The layout's entry point.
pub const INDEX_JSON: &str = "index.json";
/// The OCI annotation for a tag (Docker 25 puts the bare tag there).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's (and Docker 25's) annotation for the full image name.
pub const IMAGE_NAME: &str = "io.containerd.image.name";

/// The member holding the blob `digest`.
pub fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}

/// The digest a blob member is named after, if its (normalised) name is `blobs/<alg>/<hex>`.
pub fn blob_digest(path: &str) -> Option<Digest> {
    let rest = path.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    format!("{alg}:{hex}").parse().ok()
}

/// Parses `index.json`, which must be an image index.
pub fn parse_index_json(bytes: Vec<u8>) -> Result<Index, Error> {
    let bad = |problem: String| Error::InvalidMember { member: INDEX_JSON.into(), problem };
    match Manifest::parse(INDEX_JSON, bytes, Some(MediaType::OciIndex.as_str())) {
        Ok(Manifest::Index(index)) => Ok(index),
        Ok(Manifest::Image(_)) => Err(bad("is an image manifest, not an index".into())),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// The descriptor of an `index.json` entry naming `reference` as Docker 25 does: the full
/// name for containerd, the tag alone for OCI.
pub fn named(descriptor: &Descriptor, reference: &Reference) -> Descriptor {
    let mut named = descriptor.clone();
    named.annotations.insert(IMAGE_NAME.into(), reference.to_string());
    if let Some(tag) = reference.tag() {
        named.annotations.insert(REF_NAME.into(), tag.to_owned());
    }
    named
}

/// The image name an `index.json` entry carries: containerd's full name, else an OCI ref name
/// that is a full reference (a bare tag names no repository).
pub fn name_of(descriptor: &Descriptor) -> Option<Reference> {
    if let Some(name) = descriptor.annotations.get(IMAGE_NAME).and_then(|n| n.parse().ok()) {
        return Some(name);
    }
    let name = descriptor.annotations.get(REF_NAME)?;
    if name.contains('/') || name.contains(':') {
        name.parse().ok()
    } else {
        None
    }
}

/// `index.json` bytes listing `entries`.
pub fn index_json(entries: &[Descriptor]) -> Vec<u8> {
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MediaType::OciIndex.as_str(),
        "manifests": entries.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
    });
    let mut bytes = serde_json::to_vec(&doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn blob_paths_round_trip() {
        let d: Digest = D.parse().unwrap();
        assert_eq!(blob_path(&d), format!("blobs/sha256/{}", d.hex()));
        assert_eq!(blob_digest(&blob_path(&d)), Some(d));
        assert_eq!(blob_digest("blobs/sha256/nothex"), None);
        assert_eq!(blob_digest("abc/layer.tar"), None);
    }

    #[test]
    fn names_like_docker_25() {
        let d = Descriptor::new(MediaType::OciManifest, D.parse().unwrap(), 3);
        let r: Reference = "127.0.0.1:5000/app:1".parse().unwrap();
        let n = named(&d, &r);
        assert_eq!(n.annotations[IMAGE_NAME], "127.0.0.1:5000/app:1");
        assert_eq!(n.annotations[REF_NAME], "1");
        assert_eq!(name_of(&n), Some(r));
        let index = parse_index_json(index_json(&[n])).unwrap();
        assert_eq!(index.manifests.len(), 1);
        let mut bare = d.clone();
        bare.annotations.insert(REF_NAME.into(), "latest".into());
        assert_eq!(name_of(&bare), None, "a bare tag names no repository");
        bare.annotations.insert(REF_NAME.into(), "localhost/app:2".into());
        assert_eq!(name_of(&bare).map(|r| r.to_string()).as_deref(), Some("localhost/app:2"));
    }

    #[test]
    fn index_json_must_be_an_index() {
        assert!(parse_index_json(br#"{"schemaVersion":2,"manifests":[]}"#.to_vec()).is_ok());
        let e = parse_index_json(b"nope".to_vec()).unwrap_err();
        assert!(matches!(&e, Error::InvalidMember { member, .. } if member == "index.json"), "{e}");
    }
}
