//! The tools that build the page, installed only when missing, and the PATH that puts them
//! first: trunk (0.21, the last that builds with rustc 1.95), wasm-bindgen-cli of exactly the
//! version in Cargo.lock (trunk builds offline and refuses any other), and npm's binaryen 132
//! for wasm-opt (Debian's binaryen 108 produces pages that crash on load).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{command, install, Workspace};

const TRUNK_VERSION: &str = "0.21.14";
const BINARYEN_VERSION: &str = "132.0.0";

/// Where the page's tools are, once installed.
#[derive(Debug)]
pub struct WebTools {
    /// Directories to put before the inherited PATH.
    pub path: Vec<PathBuf>,
}

impl WebTools {
    /// The PATH value for commands that need the tools (trunk, wasm-bindgen-test-runner).
    pub fn path_var(&self) -> Result<OsString> {
        let inherited = std::env::var_os("PATH").unwrap_or_default();
        let dirs = self.path.iter().cloned().chain(std::env::split_paths(&inherited));
        std::env::join_paths(dirs).context("PATH")
    }
}

/// Installs what is missing and returns where the tools are.
pub fn ensure(ws: &Workspace) -> Result<WebTools> {
    install::rust_target(install::WASM_TARGET)?;
    // npm fetches binaryen; a machine with Node.js from elsewhere has its own npm, which
    // Debian's package would conflict with.
    if !command::on_path("npm") {
        install::apt_packages(&["npm"])?;
    }
    let cargo_bin = cargo_home().join("bin");
    let have = |program: &str, wanted: &str| -> bool {
        Command::new(cargo_bin.join(program))
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(wanted))
    };
    if !have("trunk", &format!("trunk {TRUNK_VERSION}")) {
        // --locked: trunk's own lock file is what its release was tested with.
        command::run(Command::new(&ws.cargo).args(["install", "trunk", "--locked", "--version", TRUNK_VERSION]))?;
    }
    let bindgen = wasm_bindgen_version(&ws.root)?;
    if !have("wasm-bindgen", &format!("wasm-bindgen {bindgen}")) {
        // Not --locked: the CLI's lock file names a yanked crate the registry no longer serves.
        command::run(Command::new(&ws.cargo).args(["install", "wasm-bindgen-cli", "--version", &bindgen]))?;
    }
    let binaryen = ws.target.join("tools").join("binaryen");
    let wasm_opt_dir = binaryen.join("node_modules").join(".bin");
    let wasm_opt_ok = Command::new(wasm_opt_dir.join("wasm-opt"))
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("version 132"));
    if !wasm_opt_ok {
        std::fs::create_dir_all(&binaryen).with_context(|| format!("creating {}", binaryen.display()))?;
        command::run(
            Command::new("npm")
                .arg("install")
                .arg("--no-audit")
                .arg("--no-fund")
                .arg("--prefix")
                .arg(&binaryen)
                .arg(format!("binaryen@{BINARYEN_VERSION}")),
        )?;
    }
    Ok(WebTools { path: vec![wasm_opt_dir, cargo_bin] })
}

/// Builds the page into `dist/` with trunk, offline.
pub fn build_page(ws: &Workspace, tools: &WebTools) -> Result<()> {
    let mut cmd = Command::new("trunk");
    cmd.args(["build", "--release"]).current_dir(&ws.root).env("PATH", tools.path_var()?);
    command::run(&mut cmd).context("building the page with trunk")
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"))
}

/// The wasm-bindgen version Cargo.lock resolved.
fn wasm_bindgen_version(root: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(version) =
                lines.next().and_then(|l| l.trim().strip_prefix("version = \"")).and_then(|v| v.strip_suffix('"'))
            {
                return Ok(version.to_owned());
            }
        }
    }
    bail!("Cargo.lock has no wasm-bindgen package")
}
