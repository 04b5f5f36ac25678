//! The layerize server (page + proxy), started from the workspace's debug (or, for benchmarks, release) build on a free
//! loopback port, stopped by PID.

use std::process::Command;

use crate::process::{service_dir, Service};
use crate::{free_port, target_dir, workspace_root};

#[derive(Debug)]
pub struct Server {
    service: Service,
    port: u16,
}

impl Server {
    /// Serves the page built in `dist/` (or in `$LAYERIZE_TEST_DIST`: people sharing a tree
    /// can each test their own build) and proxies to the `allow`ed registries (`host:port`
    /// each, e.g. a test registry and its token issuer).
    pub fn start(allow: &[String]) -> Server {
        Server::start_with(allow, &[])
    }

    /// [`Server::start`] with extra server flags (e.g. `--no-isolation`).
    pub fn start_with(allow: &[String], flags: &[&str]) -> Server {
        Server::start_built("debug", allow, flags)
    }

    /// The release build, as `cargo xtask serve` runs it (for benchmarks).
    pub fn start_release(allow: &[String]) -> Server {
        Server::start_built("release", allow, &[])
    }

    fn start_built(profile: &str, allow: &[String], flags: &[&str]) -> Server {
        let binary = target_dir().join(profile).join("layerize-server");
        assert!(
            binary.is_file(),
            "{} does not exist: build it with `cargo build -p layerize-server` (add --release for {profile})",
            binary.display()
        );
        let dist = std::env::var_os("LAYERIZE_TEST_DIST")
            .map_or_else(|| workspace_root().join("dist"), std::path::PathBuf::from);
        assert!(
            dist.join("index.html").is_file(),
            "{} has no page: run `cargo xtask test` (it builds the page with trunk)",
            dist.display()
        );
        let port = free_port();
        let mut command = Command::new(binary);
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--dist")
            .arg(&dist)
            .args(flags)
            .env("RUST_LOG", "info");
        for host in allow {
            command.arg("--allow-registry").arg(host);
        }
        let mut service = Service::spawn("layerize-server", service_dir("layerize-server"), command);
        service.wait_for_port(port);
        Server { service, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the server logged (for checking that no secret is in it).
    pub fn log(&self) -> String {
        self.service.log()
    }
}
