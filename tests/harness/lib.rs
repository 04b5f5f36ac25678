//! The harness of layerize's end-to-end tests: real services started on loopback and stopped by
//! PID ([`Registry`] with anonymous, htpasswd or token auth, its [`TokenIssuer`], [`Dockerd`]),
//! base images made offline by umoci and pushed by skopeo ([`fixtures`]), and independent
//! readers that judge what layerize writes ([`readers`]).
//!
//! Every service keeps its data and log in a private temp dir; a failing start panics naming
//! the service and its log file. A missing tool fails the test with the Debian package to install,
//! rather than skipping it.

pub mod browser;
pub mod cert;
pub mod dockerd;
pub mod fixtures;
pub mod hostile;
pub mod http;
pub mod oci_layout;
pub mod ports;
pub mod process;
pub mod proxy;
pub mod readers;
pub mod registry;
pub mod relay;
pub mod server;
pub mod token;
pub mod tool;

use std::env;
use std::path::PathBuf;

pub use dockerd::Dockerd;
pub use fixtures::{push_index, push_single, Format, Pushed};
pub use oci_layout::OciLayout;
pub use ports::free_port;
pub use process::Service;
pub use registry::{Registry, RegistryAuth};
pub use token::TokenIssuer;
pub use tool::{require_tool, tool_available};

/// The workspace root, the parent of this crate.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map_or_else(|| manifest_dir.clone(), PathBuf::from)
}

/// Cargo's target dir: `CARGO_TARGET_DIR` when set (relative to the workspace root if relative),
/// else `target` in the workspace root.
pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// The `layerize` binary of this workspace's debug build.
///
/// `CARGO_BIN_EXE_layerize` exists only for tests of the package that has the binary, so the
/// path is built from the target dir instead; the e2e tests need it built first.
pub fn layerize() -> PathBuf {
    let binary = target_dir().join("debug").join("layerize");
    if !binary.is_file() {
        panic!("{} does not exist: run `cargo build -p layerize` first", binary.display());
    }
    binary
}

/// The `layerize` binary of this workspace's release build, for benchmarks.
pub fn layerize_release() -> PathBuf {
    let binary = target_dir().join("release").join("layerize");
    if !binary.is_file() {
        panic!("{} does not exist: run `cargo build --release -p layerize` first", binary.display());
    }
    binary
}

/// Writes `size` bytes of pseudo-random data (xorshift, fixed seed) to `path`: content gzip
/// cannot shrink, for images whose layers must stay big.
pub fn write_random_file(path: &std::path::Path, size: usize, seed: u64) {
    let mut bytes = vec![0u8; size];
    let mut x = seed | 1;
    for chunk in bytes.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(path, &bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
