//! What an IMAGE argument names, spelled as skopeo spells transports: `oci:DIR[:NAME]`,
//! `oci-archive:FILE`, `docker-archive:FILE`, a name the local store holds (preferred, as
//! `docker run` prefers local images), or else a registry reference read directly.

use std::path::PathBuf;

use anyhow::{bail, Result};
use layerize_core::Reference;

use crate::store::{find_name, StoreFlag};

/// An image's location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageArg {
    /// An image in the local store, by its stored name.
    Stored(String),
    /// An OCI layout directory and the name in it (its only image if none is given).
    Oci { dir: PathBuf, name: Option<String> },
    /// An archive file (`docker save`, OCI layout in a tar).
    Archive(PathBuf),
    /// A registry reference.
    Registry(Reference),
}

impl ImageArg {
    /// Parses `input`; a bare name is looked up in the store first.
    pub fn parse(input: &str, store: &StoreFlag) -> Result<ImageArg> {
        if let Some(rest) = input.strip_prefix("oci:") {
            let (dir, name) = match rest.split_once(':') {
                Some((dir, name)) if !name.is_empty() => (dir, Some(name.to_owned())),
                Some((dir, _)) => (dir, None),
                None => (rest, None),
            };
            if dir.is_empty() {
                bail!("{input:?} names no directory (write oci:DIR[:NAME])");
            }
            return Ok(ImageArg::Oci { dir: PathBuf::from(dir), name });
        }
        for prefix in ["docker-archive:", "oci-archive:"] {
            if let Some(path) = input.strip_prefix(prefix) {
                return Ok(ImageArg::Archive(PathBuf::from(path)));
            }
        }
        if let Some((transport, _)) = input.split_once(':') {
            if ["docker", "dir", "containers-storage", "docker-daemon"].contains(&transport) {
                bail!(
                    "{input:?}: the {transport}: transport is not supported (use a registry reference without \
                     docker://, oci:DIR[:NAME], oci-archive:FILE, docker-archive:FILE, or a name in the store)"
                );
            }
        }
        if let Some(layout) = store.open_existing()? {
            if let Some(name) = find_name(&layout, input)? {
                return Ok(ImageArg::Stored(name));
            }
        }
        match input.parse::<Reference>() {
            Ok(reference) => Ok(ImageArg::Registry(reference)),
            Err(e) => bail!("{input:?} is not an image in the store, a transport (oci:, oci-archive:, docker-archive:) or a reference: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_are_told_apart() {
        let none = StoreFlag { store: Some(PathBuf::from("/nonexistent/layerize-store")) };
        assert_eq!(
            ImageArg::parse("oci:/tmp/x:app:1", &none).expect("oci"),
            ImageArg::Oci { dir: "/tmp/x".into(), name: Some("app:1".into()) }
        );
        assert_eq!(
            ImageArg::parse("oci:/tmp/x", &none).expect("oci"),
            ImageArg::Oci { dir: "/tmp/x".into(), name: None }
        );
        assert_eq!(ImageArg::parse("oci-archive:a.tar", &none).expect("a"), ImageArg::Archive("a.tar".into()));
        assert!(matches!(ImageArg::parse("alpine:3.20", &none).expect("ref"), ImageArg::Registry(_)));
        let err = ImageArg::parse("docker://alpine", &none).expect_err("docker://").to_string();
        assert!(err.contains("not supported"), "{err}");
    }
}
