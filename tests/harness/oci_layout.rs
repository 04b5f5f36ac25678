//! An OCI image layout on disk, read and written directly: `index.json` and the blobs under
//! `blobs/sha256`, addressed by the SHA-256 of their bytes.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The annotation that names a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A `sha256:…` digest of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", lower_hex(&Sha256::digest(bytes)))
}

/// Bytes as lowercase hex, as digests spell them.
pub fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
}

impl OciLayout {
    /// The layout at `root`, which must already hold an `index.json`.
    pub fn open(root: &Path) -> OciLayout {
        let layout = OciLayout { root: root.to_path_buf() };
        if !layout.root.join("index.json").is_file() {
            panic!("{} is not an OCI layout: it has no index.json", root.display());
        }
        layout
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` (`sha256:…`) lives.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex =
            digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("only sha256 digests are expected, not {digest}"));
        self.root.join("blobs").join("sha256").join(hex)
    }

    pub fn read_blob(&self, digest: &str) -> Vec<u8> {
        let path = self.blob_path(digest);
        fs::read(&path).unwrap_or_else(|e| panic!("cannot read blob {}: {e}", path.display()))
    }

    /// A blob parsed as JSON.
    pub fn read_json(&self, digest: &str) -> Value {
        serde_json::from_slice(&self.read_blob(digest))
            .unwrap_or_else(|e| panic!("blob {digest} in {} is not JSON: {e}", self.root.display()))
    }

    /// Stores `bytes` and returns a descriptor of them with `media_type`.
    pub fn write_blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let digest = sha256_digest(bytes);
        let path = self.blob_path(&digest);
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        json!({ "mediaType": media_type, "digest": digest, "size": bytes.len() })
    }

    /// Serialises `value` compactly, stores it, and returns its descriptor.
    pub fn write_json(&self, media_type: &str, value: &Value) -> Value {
        self.write_blob(media_type, value.to_string().as_bytes())
    }

    pub fn index(&self) -> Value {
        let path = self.root.join("index.json");
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    }

    /// The descriptor in `index.json` tagged `tag`.
    pub fn tagged(&self, tag: &str) -> Value {
        self.index()["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|descriptor| descriptor["annotations"][REF_NAME] == tag)
            .cloned()
            .unwrap_or_else(|| panic!("{} has no tag {tag:?}", self.root.display()))
    }

    /// Adds `descriptor` to `index.json` under `tag`, replacing what had that tag.
    pub fn tag(&self, tag: &str, descriptor: &Value) {
        let mut index = self.index();
        let mut tagged = descriptor.clone();
        tagged["annotations"][REF_NAME] = json!(tag);
        let manifests = index["manifests"]
            .as_array_mut()
            .unwrap_or_else(|| panic!("{}/index.json has no manifests", self.root.display()));
        manifests.retain(|existing| existing["annotations"][REF_NAME] != tag);
        manifests.push(tagged);
        let path = self.root.join("index.json");
        fs::write(&path, index.to_string()).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}
