//! Platforms (`os/arch[/variant]`) and choosing one image from an index.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::descriptor::Descriptor;
use crate::error::Error;

/// An image platform as found in index entries and configs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
            os_version: None,
        }
    }

    /// The platform of a machine, from Rust's names for it (`x86_64`, `aarch64`).
    pub fn from_rust(os: &str, arch: &str) -> Platform {
        let (architecture, variant) = match arch {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "x86" => ("386", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            other => (other, None),
        };
        Platform::new(os, architecture, variant)
    }

    /// Whether an index entry for `other` satisfies a request for `self`. A request without
    /// variant takes any variant; `arm64` without variant means `v8`, as containerd decides.
    pub fn matches(&self, other: &Platform) -> bool {
        if self.os != other.os || self.architecture != other.architecture {
            return false;
        }
        match (&self.variant, &other.variant) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            (Some(want), None) => self.architecture == "arm64" && want == "v8",
        }
    }

    /// Picks the image for this platform from an index's entries, skipping attestations.
    /// An exact variant match wins over a variant-less one.
    pub fn select<'a>(&self, manifests: &'a [Descriptor]) -> Result<&'a Descriptor, Error> {
        let images: Vec<&Descriptor> = manifests.iter().filter(|d| !d.is_attestation()).collect();
        let candidates: Vec<&Descriptor> =
            images.iter().copied().filter(|d| d.platform.as_ref().is_some_and(|p| self.matches(p))).collect();
        let exact = candidates.iter().find(|d| d.platform.as_ref().is_some_and(|p| p.variant == self.variant));
        exact.or(candidates.first()).copied().ok_or_else(|| Error::PlatformNotFound {
            wanted: self.to_string(),
            available: images
                .iter()
                .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

impl FromStr for Platform {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        let valid = |p: &str| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| valid(p)) {
            return Err(Error::InvalidPlatform { input: s.to_owned() });
        }
        Ok(Platform::new(parts[0], parts[1], parts.get(2).copied()))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::media_type::MediaType;

    fn entry(p: &str, n: u8) -> Descriptor {
        let mut d = Descriptor::new(MediaType::OciManifest, Digest::sha256(&[n]), 10);
        d.platform = Some(p.parse().unwrap());
        d
    }

    #[test]
    fn parse_and_display() {
        assert_eq!("linux/arm64/v8".parse::<Platform>().unwrap().to_string(), "linux/arm64/v8");
        for bad in ["linux", "linux/", "a/b/c/d", "linux/am d64"] {
            assert!(matches!(bad.parse::<Platform>(), Err(Error::InvalidPlatform { .. })), "{bad}");
        }
    }

    #[test]
    fn selects_skipping_attestations() {
        let mut att = entry("unknown/unknown", 9);
        att.annotations.insert(crate::descriptor::REFERENCE_TYPE.into(), "attestation-manifest".into());
        let list = vec![
            att,
            entry("linux/amd64", 1),
            entry("linux/arm/v6", 2),
            entry("linux/arm/v7", 3),
            entry("linux/arm64", 4),
        ];
        let pick = |p: &str| p.parse::<Platform>().unwrap().select(&list).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64").unwrap(), Digest::sha256(&[1]));
        assert_eq!(pick("linux/arm/v7").unwrap(), Digest::sha256(&[3]));
        assert_eq!(pick("linux/arm64/v8").unwrap(), Digest::sha256(&[4]), "arm64 without variant is v8");
        match pick("linux/s390x") {
            Err(Error::PlatformNotFound { available, .. }) => {
                assert_eq!(available, "linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64")
            }
            other => panic!("{other:?}"),
        }
        assert!(pick("unknown/unknown").is_err(), "attestations are never picked");
    }
}
