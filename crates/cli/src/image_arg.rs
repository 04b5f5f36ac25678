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
    /// An archive file (`docker save`, OCI layout in a tar) and the name of an image in it
    /// (its only image if none is given).
    Archive { path: PathBuf, name: Option<String> },
    /// A registry reference.
    Registry(Reference),
}

impl ImageArg {
    /// Parses `input` as an image to read; a bare name is looked up in the store first.
    pub fn parse(input: &str, store: &StoreFlag) -> Result<ImageArg> {
        if let Some(arg) = ImageArg::transport(input)? {
            return Ok(arg);
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

    /// The registry this names, if any: where `--username`/`--password-stdin` go.
    pub fn registries(&self) -> Vec<String> {
        match self {
            ImageArg::Registry(reference) => vec![reference.registry().to_owned()],
            _ => Vec::new(),
        }
    }

    /// Parses `input` as where to write an image: a transport, a reference that names its
    /// registry (`127.0.0.1:5000/app:1`, `ghcr.io/me/app`), or else a name in the store
    /// (`app:dev`: a name without a registry host is never pushed to Docker Hub by accident).
    pub fn parse_destination(input: &str) -> Result<ImageArg> {
        if let Some(arg) = ImageArg::transport(input)? {
            return Ok(arg);
        }
        let reference: Reference =
            input.parse().map_err(|e| anyhow::anyhow!("{input:?} is not a transport or a reference: {e}"))?;
        if names_registry(input) {
            Ok(ImageArg::Registry(reference))
        } else {
            Ok(ImageArg::Stored(reference.to_string()))
        }
    }

    /// `oci:DIR[:NAME]`, `docker-archive:FILE[:NAME]`, `oci-archive:FILE[:NAME]`, or another
    /// transport (refused in words); `None` for what names no transport.
    pub fn transport(input: &str) -> Result<Option<ImageArg>> {
        let split = |rest: &str| -> (PathBuf, Option<String>) {
            match rest.split_once(':') {
                Some((path, name)) if !name.is_empty() => (PathBuf::from(path), Some(name.to_owned())),
                Some((path, _)) => (PathBuf::from(path), None),
                None => (PathBuf::from(rest), None),
            }
        };
        if let Some(rest) = input.strip_prefix("oci:") {
            let (dir, name) = split(rest);
            if dir.as_os_str().is_empty() {
                bail!("{input:?} names no directory (write oci:DIR[:NAME])");
            }
            return Ok(Some(ImageArg::Oci { dir, name }));
        }
        for prefix in ["docker-archive:", "oci-archive:"] {
            if let Some(rest) = input.strip_prefix(prefix) {
                let (path, name) = split(rest);
                if path.as_os_str().is_empty() {
                    bail!("{input:?} names no file (write {prefix}FILE[:NAME])");
                }
                return Ok(Some(ImageArg::Archive { path, name }));
            }
        }
        Ok(None)
    }
}

/// Whether a reference's first component is a registry host (has a dot or a port, or is
/// `localhost`), as Docker decides it.
fn names_registry(input: &str) -> bool {
    match input.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
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
        assert_eq!(
            ImageArg::parse("oci-archive:a.tar", &none).expect("a"),
            ImageArg::Archive { path: "a.tar".into(), name: None }
        );
        assert_eq!(
            ImageArg::parse_destination("docker-archive:a.tar:app:1").expect("a"),
            ImageArg::Archive { path: "a.tar".into(), name: Some("app:1".into()) }
        );
        assert_eq!(
            ImageArg::parse_destination("app:dev").expect("store"),
            ImageArg::Stored("docker.io/library/app:dev".into())
        );
        assert!(matches!(ImageArg::parse_destination("127.0.0.1:5000/app:1").expect("r"), ImageArg::Registry(_)));
        assert!(matches!(ImageArg::parse_destination("ghcr.io/me/app").expect("r"), ImageArg::Registry(_)));
        assert!(matches!(ImageArg::parse("alpine:3.20", &none).expect("ref"), ImageArg::Registry(_)));
        let err = ImageArg::parse("docker://alpine", &none).expect_err("docker://").to_string();
        assert!(err.contains("not supported"), "{err}");
    }
}
