//! What the machine must have for the tests: Debian packages and the wasm32 rustup target,
//! installed only when missing.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::command;

/// Debian packages the tests use: the CNCF registry, the independent readers (skopeo, umoci,
/// podman, docker), htpasswd and openssl for registry auth, a static busybox for fixture
/// images, pigz and GNU time for the benchmark, and Chromium with its driver for the page.
pub const TEST_PACKAGES: &[&str] = &[
    "docker-registry",
    "skopeo",
    "umoci",
    "podman",
    "docker.io",
    "apache2-utils",
    "openssl",
    "busybox-static",
    "pigz",
    "time",
    "chromium",
    "chromium-driver",
];

/// The core and the registry crate must build for the browser.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Everything `cargo xtask test` needs.
pub fn for_tests() -> Result<()> {
    apt_packages(TEST_PACKAGES)?;
    rust_target(WASM_TARGET)
}

/// Installs the packages that `dpkg-query` does not report as installed.
pub fn apt_packages(packages: &[&str]) -> Result<()> {
    let mut missing = Vec::new();
    for &package in packages {
        if !is_installed(package)? {
            missing.push(package);
        }
    }
    if missing.is_empty() {
        println!("apt: installed already: {}", packages.join(" "));
        return Ok(());
    }
    println!("apt: missing: {}", missing.join(" "));
    let sudo = privilege(&missing)?;
    let apt = |args: &[&str]| {
        // `env` passes the variable through sudo's environment reset as well.
        let mut cmd = Command::new(if sudo { "sudo" } else { "env" });
        if sudo {
            cmd.arg("env");
        }
        cmd.arg("DEBIAN_FRONTEND=noninteractive").arg("apt-get").args(args);
        cmd
    };
    command::run(&mut apt(&["update"]))?;
    command::run(apt(&["install", "-y"]).args(&missing))?;
    Ok(())
}

/// `dpkg-query` says "install ok installed" for an installed package, something else for a
/// removed one, and fails for a package it has never heard of.
fn is_installed(package: &str) -> Result<bool> {
    if !command::on_path("dpkg-query") {
        bail!(
            "dpkg-query not found: this installs Debian packages; on another system install \
             the equivalents of: {}",
            TEST_PACKAGES.join(" ")
        );
    }
    let out =
        Command::new("dpkg-query").args(["-W", "-f=${Status}", package]).output().context("cannot run dpkg-query")?;
    Ok(out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "install ok installed")
}

/// Whether apt-get must go through sudo: not as root; as another user only if sudo exists.
fn privilege(missing: &[&str]) -> Result<bool> {
    let uid = command::output(Command::new("id").arg("-u"))?;
    if uid.trim() == "0" {
        return Ok(false);
    }
    if command::on_path("sudo") {
        return Ok(true);
    }
    bail!(
        "installing packages needs root and sudo is not installed; as root, run:\n  \
         apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y {}\nthen run this again",
        missing.join(" ")
    )
}

/// Adds a rustup target to the toolchain that runs us, unless it is there.
pub fn rust_target(target: &str) -> Result<()> {
    // Under `cargo`, RUSTUP_TOOLCHAIN is set, so rustup answers for this very toolchain.
    let installed = command::output(Command::new("rustup").args(["target", "list", "--installed"]))
        .with_context(|| format!("cannot list rustup targets; install rustup, or the {target} target"))?;
    if installed.lines().any(|line| line.trim() == target) {
        println!("rustup: target installed already: {target}");
        return Ok(());
    }
    command::run(Command::new("rustup").args(["target", "add", target]))
}
