//! Independent readers of images in a registry or on disk (skopeo, umoci, podman, and a digest
//! check written here against the OCI layout), so that tests judge what layerize writes by tools
//! other than layerize.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::read::MultiGzDecoder;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::oci_layout::{self, OciLayout};
use crate::registry::Registry;
use crate::tool;

/// The tag [`skopeo_copy_to_oci`] gives the copied image in its layout.
pub const COPIED_TAG: &str = "img";

/// An OCI layout copied out of a registry; removed on drop.
#[derive(Debug)]
pub struct OciDir {
    _dir: TempDir,
    path: PathBuf,
}

impl OciDir {
    /// The layout root, holding `index.json`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tag of the copied image, [`COPIED_TAG`].
    pub fn tag(&self) -> &str {
        COPIED_TAG
    }

    pub fn layout(&self) -> OciLayout {
        OciLayout::open(&self.path)
    }
}

/// An unpacked runtime bundle; removed on drop.
#[derive(Debug)]
pub struct Rootfs {
    _dir: TempDir,
    path: PathBuf,
}

impl Rootfs {
    /// The root filesystem directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `skopeo copy docker://… oci:DIR:img` of the one image `reference` resolves to (for an index,
/// the linux/amd64 entry). skopeo checks every digest as it copies, so success means the
/// manifest, config and layers are what they claim.
pub fn skopeo_copy_to_oci(registry: &Registry, reference: &str) -> OciDir {
    skopeo_copy(registry, reference, &[])
}

/// Like [`skopeo_copy_to_oci`] with `--all`: an index is copied with every entry.
pub fn skopeo_copy_all_to_oci(registry: &Registry, reference: &str) -> OciDir {
    skopeo_copy(registry, reference, &["--all"])
}

fn skopeo_copy(registry: &Registry, reference: &str, extra: &[&str]) -> OciDir {
    tool::require_tool("skopeo");
    let dir = temp_dir("skopeo-oci");
    let path = dir.path().join("oci");
    let mut command = Command::new("skopeo");
    command.args(["--insecure-policy", "copy", "--quiet", "--src-tls-verify=false"]).args(extra);
    if let Some(creds) = registry.creds_arg() {
        command.arg("--src-creds").arg(creds);
    }
    command
        .arg(format!("docker://{}", registry.reference(reference)))
        .arg(format!("oci:{}:{COPIED_TAG}", path.display()));
    tool::run(&mut command);
    OciDir { _dir: dir, path }
}

/// The manifest or index bytes the registry serves for `reference`.
pub fn skopeo_inspect_raw(registry: &Registry, reference: &str) -> Vec<u8> {
    skopeo_inspect(registry, reference, &["--raw"])
}

/// The config blob bytes of the image `reference` resolves to (linux/amd64 for an index).
pub fn skopeo_inspect_config(registry: &Registry, reference: &str) -> Vec<u8> {
    skopeo_inspect(registry, reference, &["--config", "--raw"])
}

fn skopeo_inspect(registry: &Registry, reference: &str, flags: &[&str]) -> Vec<u8> {
    tool::require_tool("skopeo");
    let mut command = Command::new("skopeo");
    command.args(["--insecure-policy", "inspect", "--tls-verify=false"]).args(flags);
    match registry.creds_arg() {
        Some(creds) => command.arg("--creds").arg(creds),
        None => command.arg("--no-creds"),
    };
    command.arg(format!("docker://{}", registry.reference(reference)));
    tool::run(&mut command).stdout
}

/// `umoci unpack` of `tag` in the layout at `oci_dir`; returns the root filesystem.
pub fn umoci_unpack(oci_dir: &Path, tag: &str) -> Rootfs {
    tool::require_tool("umoci");
    let dir = temp_dir("umoci-bundle");
    let bundle = dir.path().join("bundle");
    tool::run(
        Command::new("umoci").arg("unpack").arg("--image").arg(format!("{}:{tag}", oci_dir.display())).arg(&bundle),
    );
    Rootfs { _dir: dir, path: bundle.join("rootfs") }
}

/// Checks every image reachable from the layout's `index.json`, through nested indexes: each
/// blob's digest and size match its descriptor, and each layer's uncompressed SHA-256 equals the
/// config's `rootfs.diff_ids` entry. Attestation manifests (non-tar layers) are skipped. Panics
/// on the first mismatch; returns how many images were checked, so a caller can tell that some were.
pub fn diff_ids_match(oci_dir: &Path) -> usize {
    let layout = OciLayout::open(oci_dir);
    let index = layout.index();
    let mut images = 0;
    for descriptor in index["manifests"].as_array().into_iter().flatten() {
        images += check_descriptor(&layout, descriptor);
    }
    images
}

fn check_descriptor(layout: &OciLayout, descriptor: &Value) -> usize {
    let digest = text(&descriptor["digest"]);
    check_blob(layout, descriptor);
    let document = layout.read_json(digest);
    let media_type = descriptor["mediaType"].as_str().or_else(|| document["mediaType"].as_str()).unwrap_or_default();
    if media_type.contains("index") || media_type.contains("manifest.list") {
        document["manifests"].as_array().into_iter().flatten().map(|child| check_descriptor(layout, child)).sum()
    } else {
        usize::from(check_image(layout, digest, &document))
    }
}

/// Returns false for a manifest that is not a container image (an attestation).
fn check_image(layout: &OciLayout, digest: &str, manifest: &Value) -> bool {
    let layers: Vec<&Value> = manifest["layers"].as_array().into_iter().flatten().collect();
    let is_image = layers.iter().all(|layer| {
        let media_type = text(&layer["mediaType"]);
        media_type.contains(".tar")
    });
    if !is_image {
        return false;
    }
    check_blob(layout, &manifest["config"]);
    let config = layout.read_json(text(&manifest["config"]["digest"]));
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"].as_array().into_iter().flatten().map(text).collect();
    assert_eq!(
        diff_ids.len(),
        layers.len(),
        "manifest {digest}: {} layers but {} diff_ids in its config",
        layers.len(),
        diff_ids.len()
    );
    for (layer, diff_id) in layers.iter().zip(diff_ids) {
        check_blob(layout, layer);
        let found = uncompressed_digest(layout, layer);
        assert_eq!(
            found,
            diff_id,
            "manifest {digest}: layer {} uncompresses to {found}, but the config says {diff_id}",
            text(&layer["digest"])
        );
    }
    true
}

/// The blob named by `descriptor` exists with that digest and size.
fn check_blob(layout: &OciLayout, descriptor: &Value) {
    let digest = text(&descriptor["digest"]);
    let bytes = layout.read_blob(digest);
    assert_eq!(oci_layout::sha256_digest(&bytes), digest, "blob {digest} does not hash to its name");
    assert_eq!(
        Some(bytes.len() as u64),
        descriptor["size"].as_u64(),
        "blob {digest} has {} bytes, its descriptor says {}",
        bytes.len(),
        descriptor["size"]
    );
}

fn uncompressed_digest(layout: &OciLayout, layer: &Value) -> String {
    let digest = text(&layer["digest"]);
    let media_type = text(&layer["mediaType"]);
    let path = layout.blob_path(digest);
    let file = File::open(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut reader: Box<dyn Read> = if media_type.ends_with("gzip") {
        Box::new(MultiGzDecoder::new(file))
    } else if media_type.ends_with("tar") {
        Box::new(file)
    } else {
        panic!("layer {digest} has media type {media_type}; only tar and tar+gzip are read here")
    };
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) => panic!("cannot decompress layer {digest}: {e}"),
        }
    }
    format!("sha256:{}", oci_layout::lower_hex(&hasher.finalize()))
}

/// `podman pull` into private storage (vfs, under a temp dir removed afterwards); returns the
/// image ID podman prints.
pub fn podman_pull(registry: &Registry, reference: &str) -> String {
    let dir = temp_dir("podman");
    let mut command = podman(dir.path());
    command.args(["pull", "--quiet", "--tls-verify=false"]);
    if let Some(creds) = registry.creds_arg() {
        command.arg("--creds").arg(creds);
    }
    command.arg(format!("docker://{}", registry.reference(reference)));
    tool::run_stdout(&mut command).trim().to_owned()
}

/// `podman load --input archive` into private storage, then `podman images`; returns the
/// names and IDs podman lists (`NAME:TAG ID` lines, full IDs), sorted.
pub fn podman_load(archive: &Path) -> Vec<String> {
    let dir = temp_dir("podman");
    tool::run(podman(dir.path()).args(["load", "--quiet", "--input"]).arg(archive));
    let listed = tool::run_stdout(podman(dir.path()).args([
        "images",
        "--no-trunc",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
    ]));
    let mut lines: Vec<String> = listed.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// `podman save --format FORMAT` of an image pulled from the registry into private storage,
/// written to `output` (`docker-archive` or `oci-archive`).
pub fn podman_save(registry: &Registry, reference: &str, format: &str, output: &Path) {
    let dir = temp_dir("podman");
    let image = registry.reference(reference);
    let mut pull = podman(dir.path());
    pull.args(["pull", "--quiet", "--tls-verify=false"]);
    if let Some(creds) = registry.creds_arg() {
        pull.arg("--creds").arg(creds);
    }
    tool::run(pull.arg(format!("docker://{image}")));
    tool::run(podman(dir.path()).args(["save", "--quiet", "--format", format, "--output"]).arg(output).arg(&image));
}

/// `skopeo inspect` of an archive (`docker-archive:FILE`, `oci-archive:FILE`, with an
/// optional `:REF` or `:@N` selector); skopeo's JSON summary.
pub fn skopeo_inspect_archive(transport_ref: &str) -> Value {
    tool::require_tool("skopeo");
    let output = tool::run_stdout(Command::new("skopeo").args(["--insecure-policy", "inspect", transport_ref]));
    serde_json::from_str(&output)
        .unwrap_or_else(|e| panic!("skopeo inspect {transport_ref} printed no JSON ({e}): {output}"))
}

/// A podman command with private storage under `root` (vfs, no events, cgroupfs), so no
/// test touches the machine's images.
fn podman(root: &Path) -> Command {
    tool::require_tool("podman");
    let mut command = Command::new("podman");
    command
        .arg("--root")
        .arg(root.join("root"))
        .arg("--runroot")
        .arg(root.join("run"))
        .arg("--tmpdir")
        .arg(root.join("tmp"))
        .args(["--storage-driver", "vfs", "--events-backend", "none", "--cgroup-manager", "cgroupfs"]);
    command
}

fn temp_dir(what: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("layerize-{what}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temp dir for {what}: {e}"))
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("expected a JSON string, found {value}"))
}
