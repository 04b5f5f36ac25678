//! A private Docker engine: dockerd, with the containerd it starts for itself, keeping its socket,
//! data, exec state and client config in its own temp dir, with vfs storage and no networking;
//! and the docker client pointed at it.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::process::{self, Service};
use crate::tool;

/// dockerd sets up containerd, storage and plugins before it answers; give it longer than a
/// registry, on a machine shared with other work.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running dockerd. Dropping it stops dockerd by its PID (SIGTERM, so it stops its containerd
/// and unmounts) and waits for it to exit.
#[derive(Debug)]
pub struct Dockerd {
    service: Service,
    socket: PathBuf,
    client_config: PathBuf,
}

impl Dockerd {
    /// Starts dockerd and waits until its API answers `/_ping`.
    ///
    /// 127.0.0.0/8 registries are insecure registries by default, so plain-HTTP test registries
    /// work without `--insecure-registry`.
    pub fn start() -> Dockerd {
        tool::require_tool("dockerd");
        tool::require_tool("docker");
        let dir = process::service_dir("dockerd");
        let root = dir.path();
        let socket = root.join("docker.sock");
        let client_config = root.join("client");
        fs::create_dir_all(&client_config).unwrap_or_else(|e| panic!("cannot create {}: {e}", client_config.display()));

        // The daemon config file keeps /etc/docker/daemon.json out. dockerd 20.10 writes a trust
        // key to /etc/docker/key.json unless told otherwise, and only the config file can say so.
        let mut daemon_config = json!({});
        if dockerd_major_version() < 23 {
            daemon_config["deprecated-key-path"] = json!(root.join("key.json"));
        }
        let config_file = root.join("daemon.json");
        fs::write(&config_file, daemon_config.to_string())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config_file.display()));

        let mut command = Command::new("dockerd");
        command
            .arg("--config-file")
            .arg(&config_file)
            .args(["--storage-driver", "vfs", "--iptables=false", "--ip6tables=false", "--bridge=none"])
            .arg("--host")
            .arg(format!("unix://{}", socket.display()))
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("exec"))
            .arg("--pidfile")
            .arg(root.join("docker.pid"));
        let mut service = Service::spawn("dockerd", dir, command);
        let probe = socket.clone();
        service.wait_until(&format!("{}/_ping", socket.display()), START_TIMEOUT, || ping(&probe));
        Dockerd { service, socket, client_config }
    }

    /// A `docker` command talking to this daemon only, with a private client config dir so that
    /// nothing reads or writes `~/.docker`.
    pub fn docker(&self) -> Command {
        let mut command = Command::new("docker");
        command
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", &self.client_config)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH");
        command
    }

    /// `docker pull reference`.
    pub fn pull(&self, reference: &str) -> String {
        tool::run_stdout(self.docker().args(["pull", "--quiet", reference]))
    }

    /// `docker run --rm --network none reference args…`; returns what the container printed.
    pub fn run(&self, reference: &str, args: &[&str]) -> String {
        tool::run_stdout(self.docker().args(["run", "--rm", "--network", "none", reference]).args(args))
    }

    /// `docker load --input tar`; returns docker's report (`Loaded image: …`).
    pub fn load(&self, tar: &Path) -> String {
        tool::run_stdout(self.docker().args(["load", "--input"]).arg(tar))
    }

    /// `docker save --output tar references…`.
    pub fn save(&self, references: &[&str], tar: &Path) {
        tool::run(self.docker().args(["save", "--output"]).arg(tar).args(references));
    }

    /// `docker image inspect reference`, the one object of its JSON array.
    pub fn image_inspect(&self, reference: &str) -> Value {
        let output = tool::run_stdout(self.docker().args(["image", "inspect", reference]));
        let mut parsed: Value = serde_json::from_str(&output)
            .unwrap_or_else(|e| panic!("docker image inspect printed no JSON ({e}): {output}"));
        parsed[0].take()
    }

    /// `docker login host` with the password on stdin; the credentials land in the private
    /// client config.
    pub fn login(&self, host: &str, user: &str, password: &str) {
        let mut command = self.docker();
        command
            .args(["login", "--username", user, "--password-stdin", host])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start docker login: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(password.as_bytes())
                .unwrap_or_else(|e| panic!("cannot give docker login the password: {e}"));
        }
        let output = child.wait_with_output().unwrap_or_else(|e| panic!("docker login did not finish: {e}"));
        if !output.status.success() {
            panic!(
                "docker login {host} as {user} failed with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    /// dockerd's PID.
    pub fn pid(&self) -> u32 {
        self.service.pid()
    }

    /// The private dir holding the socket, data root, exec root and client config.
    pub fn dir(&self) -> &Path {
        self.service.dir()
    }

    /// The API socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Everything dockerd (and its containerd) logged so far.
    pub fn log(&self) -> String {
        self.service.log()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.service.stop();
        stop_orphaned_containerd(self.service.dir());
        unmount_leftovers(self.service.dir());
    }
}

/// If dockerd had to be killed, the containerd it started outlives it. That containerd is
/// stopped by the PID dockerd recorded in our exec root, and only if that process still runs
/// with its config from our dir, so no other process can be hit.
fn stop_orphaned_containerd(dir: &Path) {
    let state = dir.join("exec").join("containerd");
    let Ok(pid) = fs::read_to_string(state.join("containerd.pid")) else {
        return;
    };
    let pid = pid.trim();
    let proc_dir = Path::new("/proc").join(pid);
    let ours = fs::read(proc_dir.join("cmdline"))
        .map(|cmdline| String::from_utf8_lossy(&cmdline).contains(&*state.to_string_lossy()))
        .unwrap_or(false);
    if !ours {
        return;
    }
    eprintln!("dockerd left its containerd (pid {pid}) running; killing it");
    let _ = Command::new("kill").args(["-KILL", pid]).stdin(Stdio::null()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_dir.exists() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
}

/// Unmounts whatever is still mounted under `dir` (dockerd makes its data root a private bind
/// mount and, when it does not shut down cleanly, leaves it), deepest first, so the temp dir can
/// be removed.
fn unmount_leftovers(dir: &Path) {
    let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut mounts: Vec<&str> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| Path::new(point).starts_with(dir))
        .collect();
    mounts.sort_by_key(|point| std::cmp::Reverse(point.len()));
    for point in mounts {
        let _ = Command::new("umount").arg(point).stdin(Stdio::null()).status();
    }
}

/// Whether the API on `socket` answers `GET /_ping` with 200.
fn ping(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n").is_err() {
        return false;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    response.starts_with(b"HTTP/1.0 200") || response.starts_with(b"HTTP/1.1 200")
}

/// The major version `dockerd --version` reports (`Docker version 20.10.24+dfsg1, …`).
fn dockerd_major_version() -> u32 {
    let version = tool::run_stdout(Command::new("dockerd").arg("--version"));
    version
        .split_whitespace()
        .nth(2)
        .and_then(|number| number.split('.').next())
        .and_then(|major| major.parse().ok())
        .unwrap_or_else(|| panic!("cannot read dockerd's version from {version:?}"))
}
