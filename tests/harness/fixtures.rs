//! Base images made without the internet and pushed to a test registry: a busybox rootfs packed
//! by umoci into an OCI layout once per test process, a two-platform index (plus an
//! attestation-like entry) written around it, and skopeo to push either.

pub mod layered;
mod layouts;
pub mod unusual;

use std::fs;
use std::process::Command;
use std::sync::OnceLock;

use crate::registry::Registry;
use crate::tool;

use layouts::Layouts;

/// `/etc/motd` in every fixture image.
pub const MOTD: &str = "base motd\n";
/// `/etc/os-release` in every fixture image.
pub const OS_RELEASE: &str = "NAME=\"layerize fixture\"\nID=layerize-fixture\nVERSION_ID=1\n";
/// The environment in every fixture config, in order.
pub const ENV: [&str; 2] =
    ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FIXTURE=layerize-base"];
/// Applets linked to `/bin/busybox`.
pub const APPLETS: [&str; 3] = ["sh", "cat", "ls"];
/// The attestation entry's platform, which clients must skip.
pub const ATTESTATION_PLATFORM: &str = "unknown/unknown";

/// The manifest format a fixture is pushed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OCI image manifest / OCI image index.
    Oci,
    /// Docker image manifest v2 schema 2 / Docker manifest list.
    Docker,
}

/// What a push put in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `127.0.0.1:PORT/REPO:TAG`.
    pub reference: String,
    /// `REPO`, without registry or tag.
    pub repo: String,
    /// Digest of the top-level manifest or index, as the registry serves it.
    pub digest: String,
    pub media_type: String,
    /// For an index, its entries in order; empty for a single image.
    pub manifests: Vec<PlatformManifest>,
}

impl Pushed {
    /// `127.0.0.1:PORT/REPO@DIGEST`.
    pub fn by_digest(&self) -> String {
        let host = self.reference.split('/').next().unwrap_or_default();
        format!("{host}/{}@{}", self.repo, self.digest)
    }

    /// The index entry for `platform` (`linux/amd64`, `linux/arm64/v8`).
    pub fn platform(&self, platform: &str) -> &PlatformManifest {
        self.manifests
            .iter()
            .find(|entry| entry.platform == platform)
            .unwrap_or_else(|| panic!("{} has no entry for {platform}", self.reference))
    }
}

/// One entry of a pushed index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformManifest {
    /// `os/arch[/variant]`; the attestation entry is [`ATTESTATION_PLATFORM`].
    pub platform: String,
    pub digest: String,
    pub media_type: String,
}

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub(crate) const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub(crate) const IN_TOTO: &str = "application/vnd.in-toto+json";

static LAYOUTS: OnceLock<Layouts> = OnceLock::new();

/// Pushes the single-platform (linux/amd64) busybox image as `repo_tag` (`REPO:TAG`).
pub fn push_single(registry: &Registry, repo_tag: &str, format: Format) -> Pushed {
    let layouts = layouts();
    let source = format!("oci:{}:amd64", layouts.oci.root().display());
    let (digest, media_type) = match format {
        Format::Oci => {
            let digest = skopeo_copy(registry, &source, repo_tag, &[]);
            assert_eq!(digest, layouts.single_digest, "skopeo changed the OCI manifest");
            (digest, OCI_MANIFEST)
        }
        Format::Docker => (skopeo_copy(registry, &source, repo_tag, &["--format", "v2s2"]), DOCKER_MANIFEST),
    };
    eprintln!("pushed {} ({format:?}) as {digest}", registry.reference(repo_tag));
    pushed(registry, repo_tag, digest, media_type, Vec::new())
}

/// Pushes the index fixture as `repo_tag`: linux/amd64, linux/arm64/v8 and an attestation-like
/// entry (platform unknown/unknown, `vnd.docker.reference.type: attestation-manifest`).
///
/// skopeo 1.9 cannot convert that index to a Docker manifest list (it refuses to convert the
/// in-toto layer), and its `oci:` transport ignores Docker media types in `index.json`; so the
/// Docker list is written here into skopeo's `dir:` layout and copied as it is with `--all`.
pub fn push_index(registry: &Registry, repo_tag: &str, format: Format) -> Pushed {
    let layouts = layouts();
    let (source, expected, media_type, entries) = match format {
        Format::Oci => (
            format!("oci:{}:index", layouts.oci.root().display()),
            &layouts.oci_index_digest,
            OCI_INDEX,
            &layouts.oci_entries,
        ),
        Format::Docker => (
            format!("dir:{}", layouts.docker_list.display()),
            &layouts.docker_list_digest,
            DOCKER_LIST,
            &layouts.docker_entries,
        ),
    };
    let digest = skopeo_copy(registry, &source, repo_tag, &["--all"]);
    assert_eq!(&digest, expected, "skopeo changed the index while pushing it");
    eprintln!("pushed index {} ({format:?}) as {digest}", registry.reference(repo_tag));
    pushed(registry, repo_tag, digest, media_type, entries.clone())
}

fn pushed(
    registry: &Registry,
    repo_tag: &str,
    digest: String,
    media_type: &str,
    manifests: Vec<PlatformManifest>,
) -> Pushed {
    let repo = repo_tag
        .split_once('@')
        .map(|(repo, _)| repo)
        .or_else(|| repo_tag.rsplit_once(':').map(|(repo, _)| repo))
        .unwrap_or(repo_tag);
    Pushed {
        reference: registry.reference(repo_tag),
        repo: repo.to_owned(),
        digest,
        media_type: media_type.to_owned(),
        manifests,
    }
}

/// Runs `skopeo copy` from `source` to the registry and returns the digest it wrote.
fn skopeo_copy(registry: &Registry, source: &str, repo_tag: &str, extra: &[&str]) -> String {
    tool::require_tool("skopeo");
    let digest_file =
        tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("cannot create a temp file for skopeo's digest: {e}"));
    let mut command = Command::new("skopeo");
    command
        .args(["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"])
        .args(extra)
        .arg("--digestfile")
        .arg(digest_file.path());
    if let Some(creds) = registry.creds_arg() {
        command.arg("--dest-creds").arg(creds);
    }
    command.arg(source).arg(format!("docker://{}", registry.reference(repo_tag)));
    tool::run(&mut command);
    let digest = fs::read_to_string(digest_file.path()).unwrap_or_else(|e| panic!("skopeo wrote no digest file: {e}"));
    digest.trim().to_owned()
}

fn layouts() -> &'static Layouts {
    LAYOUTS.get_or_init(layouts::build)
}
