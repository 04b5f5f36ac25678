//! The server as it is deployed: its container image, built by `cargo xtask image` (layerize
//! appending the server, its libraries and the page onto `scratch`), loaded into a real dockerd
//! and run read-only as non-root on the host network; it answers `/healthz`, serves the page,
//! proxies a pull from a real registry, logs JSON, and stops within `docker stop`'s 10 s while a
//! 1 GiB upload is in flight, cutting it. The native binary is held to the same stop, faster.
//!
//! The image is built by the debug `xtask` binary (which `cargo xtask test` runs) from the debug
//! server and CLI, the code path `cargo xtask image` takes after building release ones.

use std::fs;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use layerize_tests::oci_layout::sha256_digest;
use layerize_tests::process::{service_dir, Service};
use layerize_tests::{
    free_port, http, push_single, target_dir, tool, workspace_root, Dockerd, Format, Registry, RegistryAuth,
};
use serde_json::Value;

/// What `docker stop` waits before SIGKILL, and so the bound on a stop.
const STOP_LIMIT: Duration = Duration::from_secs(10);
/// The server's grace in these tests: long enough to see that it is waited, short enough that a
/// cut upload ends the test quickly.
const GRACE: &str = "3s";
const GIB: u64 = 1 << 30;
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[test]
fn the_image_runs_read_only_as_non_root_serves_proxies_and_stops_on_sigterm() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let work = tempfile::tempdir().expect("temp dir");
    let tar = work.path().join("layerize-server-image.tar");
    let name = registry.reference("layerize-server:e2e");
    let built = build_image(&tar, Some(&name));
    // Written and pushed, it prints `REPOSITORY@DIGEST` for each.
    let repository = registry.reference("layerize-server");
    let printed: Vec<&str> = built.lines().filter_map(|l| l.trim().strip_prefix(&format!("{repository}@"))).collect();
    assert_eq!(printed.len(), 2, "xtask image printed {repository}@sha256:… twice (tar, push):\n{built}");
    assert_eq!(printed[0], printed[1], "the tar and the registry hold the same manifest");
    let pushed = printed[0].to_owned();

    let docker = Dockerd::start();
    let loaded = docker.load(&tar);
    assert!(loaded.contains(&name), "{loaded}");
    let config = docker.image_inspect(&name);
    assert_eq!(config["Config"]["User"], "65532:65532");
    assert_eq!(config["Config"]["Entrypoint"], serde_json::json!(["/usr/local/bin/layerize-server"]));
    assert!(config["Config"]["ExposedPorts"]["8080/tcp"].is_object(), "{}", config["Config"]);
    let env = config["Config"]["Env"].to_string();
    for wanted in ["LAYERIZE_LISTEN=0.0.0.0:8080", "LAYERIZE_DIST=/srv/layerize/dist"] {
        assert!(env.contains(wanted), "{wanted} not in {env}");
    }
    assert_eq!(config["RootFS"]["Layers"].as_array().map(Vec::len), Some(1), "one layer on scratch");

    // The image's defaults, but on a free loopback port of the host's network (this dockerd has
    // no bridge), with the registry allowed: all through the environment, as Kubernetes does.
    let port = free_port();
    let container = Container::run(
        &docker,
        &name,
        &[
            format!("LAYERIZE_LISTEN=127.0.0.1:{port}"),
            format!("LAYERIZE_ALLOW_REGISTRY={}", registry.host()),
            "LAYERIZE_LOG_FORMAT=json".to_owned(),
            format!("LAYERIZE_SHUTDOWN_GRACE={GRACE}"),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base, || container.logs());

    // Not root, inside and out: the process's real and effective uid and gid are 65532.
    let pid = container.inspect("{{.State.Pid}}");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("the container's process status");
    for field in ["Uid:", "Gid:"] {
        let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_default();
        assert!(line.split_whitespace().skip(1).all(|id| id == "65532"), "{line}");
    }
    assert_eq!(container.inspect("{{.HostConfig.ReadonlyRootfs}}"), "true");

    // The page, from /srv/layerize/dist in the image.
    let page = http::get(&format!("{base}/"), &[]).expect("GET /");
    assert_eq!(page.status, 200);
    let index = fs::read(test_dist().join("index.html")).expect("the page's index.html");
    assert_eq!(page.body, index, "the page served is the one built into the image");

    // A pull through the proxy: the server's own image, from the real registry.
    let proxy = format!("{base}/proxy/http/{}", registry.host());
    let manifest = http::get(&format!("{proxy}/v2/layerize-server/manifests/e2e"), &[("Accept", OCI_MANIFEST)])
        .expect("GET manifest through the proxy");
    assert_eq!(manifest.status, 200, "{}", manifest.text());
    assert_eq!(sha256_digest(&manifest.body), pushed, "the manifest pulled is the one pushed");
    let manifest: Value = serde_json::from_slice(&manifest.body).expect("manifest JSON");
    let layer = &manifest["layers"][0];
    let digest = layer["digest"].as_str().expect("layer digest");
    let blob = http::get(&format!("{proxy}/v2/layerize-server/blobs/{digest}"), &[]).expect("GET blob");
    assert_eq!(blob.status, 200);
    assert_eq!(blob.body.len() as u64, layer["size"].as_u64().expect("size"));
    assert_eq!(sha256_digest(&blob.body), digest);
    assert_eq!(blob.header("x-layerize-checked-digest"), Some(digest), "the proxy checked the blob");

    // The page's whole flow (base, files, build in the worker, push) through the container, as
    // the page's own e2e test runs it through the workspace's server.
    let page_base = push_single(&registry, "page-base:1", Format::Oci);
    let logs = || container.logs();
    crate::page::drive_at("through-the-image", &base, &logs, &registry, &page_base, None, "from-the-image:1");

    // SIGTERM with a 1 GiB upload in flight: the container exits by itself within the limit
    // (exit code 0, not docker's SIGKILL), and the upload ends.
    let upload = Upload::start(port, &proxy, registry.host().as_str(), "e2e/sigterm");
    upload.wait_until_sent(16 << 20);
    let clock = Instant::now();
    tool::run(docker.docker().args(["stop", "--time", &STOP_LIMIT.as_secs().to_string(), &container.name]));
    let took = clock.elapsed();
    let end = upload.end();
    println!("docker stop with a 1 GiB upload in flight took {took:.2?}; the upload: {end}");
    assert!(took < STOP_LIMIT, "docker stop took {took:?}");
    assert_eq!(container.inspect("{{.State.ExitCode}}"), "0", "it exited by itself, not by SIGKILL");
    assert!(end.cut_short(), "the upload cannot have completed: {end}");

    let logs = container.logs();
    let lines = json_lines(&logs);
    assert!(lines.iter().any(|l| l["message"].as_str().is_some_and(|m| m.starts_with("listening on http://"))));
    assert!(lines.iter().any(|l| l["message"] == "proxied" && l["status"] == 200), "{logs}");
    assert!(lines.iter().any(|l| l["message"] == "served" && l["path"] == "/"), "{logs}");
    assert!(lines.iter().any(|l| l["signal"] == "SIGTERM"), "{logs}");
    assert!(lines.iter().any(|l| l["message"].as_str().is_some_and(|m| m.contains("grace ended"))), "{logs}");
    assert!(!logs.contains("_state") && !logs.contains("uthorization"), "{logs}");
}

#[test]
fn the_native_server_takes_its_settings_from_the_environment_and_stops_on_signals() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let dist = test_dist();

    // SIGTERM with a 1 GiB upload in flight: the server waits the grace, then cuts it and exits.
    let (mut server, port) = native_server(&registry, &dist);
    let base = format!("http://127.0.0.1:{port}");
    let health = http::get(&format!("{base}/healthz"), &[]).expect("GET /healthz");
    assert_eq!((health.status, health.text().as_str()), (200, "ok"));
    let proxy = format!("{base}/proxy/http/{}", registry.host());
    let upload = Upload::start(port, &proxy, &registry.host(), "native/sigterm");
    upload.wait_until_sent(16 << 20);
    let clock = Instant::now();
    server.stop(); // SIGTERM, then (after 15 s) SIGKILL
    let took = clock.elapsed();
    let end = upload.end();
    println!("the native server stopped {took:.2?} after SIGTERM with a 1 GiB upload in flight; the upload: {end}");
    let grace = humantime_secs(GRACE);
    assert!(took >= grace && took < STOP_LIMIT, "stopping took {took:?}");
    assert!(end.cut_short(), "{end}");
    let logs = server.log();
    let lines = json_lines(&logs);
    assert!(lines.iter().any(|l| l["signal"] == "SIGTERM"), "{logs}");
    assert!(lines.iter().any(|l| l["message"].as_str().is_some_and(|m| m.contains("grace ended"))), "{logs}");

    // SIGINT when idle: it stops at once.
    let (mut server, _) = native_server(&registry, &dist);
    let pid = server.pid();
    let clock = Instant::now();
    tool::run(Command::new("kill").args(["-INT", &pid.to_string()]));
    wait_for_exit(pid, STOP_LIMIT);
    let took = clock.elapsed();
    server.stop();
    println!("the idle native server stopped {took:.2?} after SIGINT");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let logs = server.log();
    let lines = json_lines(&logs);
    assert!(lines.iter().any(|l| l["signal"] == "SIGINT"), "{logs}");
    assert!(lines.iter().any(|l| l["message"] == "stopped"), "{logs}");
}

/// `xtask image` on the debug server and CLI and the test page, writing `tar` (and pushing to
/// `tag`); returns what it printed.
fn build_image(tar: &Path, tag: Option<&str>) -> String {
    let xtask = target_dir().join("debug").join("xtask");
    assert!(xtask.is_file(), "{} does not exist: build it with `cargo build -p xtask`", xtask.display());
    let debug = target_dir().join("debug");
    let mut command = Command::new(xtask);
    command
        .arg("image")
        .arg("--server")
        .arg(debug.join("layerize-server"))
        .arg("--layerize")
        .arg(layerize_tests::layerize())
        .arg("--dist")
        .arg(test_dist())
        .arg("-o")
        .arg(tar)
        .env("DOCKER_CONFIG", tar.parent().unwrap_or(tar));
    if let Some(tag) = tag {
        command.args(["-t", tag]);
    }
    tool::run_stdout(&mut command)
}

/// The page the server tests serve: `$LAYERIZE_TEST_DIST` or the workspace's `dist/`, as for
/// the page's own tests.
fn test_dist() -> PathBuf {
    let dist = std::env::var_os("LAYERIZE_TEST_DIST").map_or_else(|| workspace_root().join("dist"), PathBuf::from);
    assert!(
        dist.join("index.html").is_file(),
        "{} has no page: run `cargo xtask test` (it builds the page with trunk)",
        dist.display()
    );
    dist
}

/// The debug server, configured by environment variables only, with JSON logs.
fn native_server(registry: &Registry, dist: &Path) -> (Service, u16) {
    let binary = target_dir().join("debug").join("layerize-server");
    assert!(binary.is_file(), "{} does not exist: run `cargo build -p layerize-server`", binary.display());
    let port = free_port();
    let mut command = Command::new(binary);
    command
        .env("LAYERIZE_LISTEN", format!("127.0.0.1:{port}"))
        .env("LAYERIZE_DIST", dist)
        .env("LAYERIZE_ALLOW_REGISTRY", format!("example.invalid,{}", registry.host()))
        .env("LAYERIZE_LOG_FORMAT", "json")
        .env("LAYERIZE_SHUTDOWN_GRACE", GRACE)
        .env("RUST_LOG", "info");
    let mut service = Service::spawn("layerize-server", service_dir("layerize-server"), command);
    service.wait_for_http(&format!("http://127.0.0.1:{port}/healthz"));
    (service, port)
}

/// A container of the image, removed when dropped.
struct Container<'a> {
    docker: &'a Dockerd,
    name: String,
}

impl<'a> Container<'a> {
    /// `docker run -d` as a hardened deployment would: read-only root, no capabilities, no new
    /// privileges, the image's own user; host network.
    fn run(docker: &'a Dockerd, image: &str, env: &[String]) -> Container<'a> {
        let name = format!("layerize-server-e2e-{}", std::process::id());
        let mut command = docker.docker();
        command.args(["run", "--detach", "--name", &name, "--network", "host", "--read-only", "--cap-drop", "ALL"]);
        command.args(["--security-opt", "no-new-privileges"]);
        for variable in env {
            command.args(["--env", variable]);
        }
        command.arg(image);
        tool::run(&mut command);
        Container { docker, name }
    }

    fn inspect(&self, format: &str) -> String {
        tool::run_stdout(self.docker.docker().args(["inspect", "--format", format, &self.name])).trim().to_owned()
    }

    fn logs(&self) -> String {
        let output = tool::run(self.docker.docker().args(["logs", &self.name]));
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.docker.docker().args(["rm", "--force", &self.name]).output();
    }
}

/// Polls `/healthz` until it answers 200 `ok` (30 s at most; the container starts in well under
/// a second, the rest is for a busy machine).
fn wait_healthy(base: &str, logs: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = http::get(&format!("{base}/healthz"), &[]) {
            assert_eq!((response.status, response.text().as_str()), (200, "ok"));
            return;
        }
        assert!(Instant::now() < deadline, "{base}/healthz never answered; logs:\n{}", logs());
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the process `pid` (our child) has exited, i.e. is a zombie or gone.
fn wait_for_exit(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command name, which is in parentheses.
        let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
        if matches!(state, None | Some('Z' | 'X')) {
            return;
        }
        assert!(Instant::now() < deadline, "process {pid} still runs after {limit:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn json_lines(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {l}")))
        .collect()
}

fn humantime_secs(grace: &str) -> Duration {
    Duration::from_secs(grace.trim_end_matches('s').parse().expect("a grace in whole seconds"))
}

/// One 1 GiB blob upload through the proxy as a single streamed PATCH, sent by a thread at
/// about 40 MiB/s so that it is still in flight when the server is told to stop.
struct Upload {
    sent: Arc<AtomicU64>,
    thread: JoinHandle<UploadEnd>,
}

/// How an upload ended.
#[derive(Debug)]
enum UploadEnd {
    /// A write or the read of the answer failed after `sent` bytes.
    Failed { sent: u64, error: io::Error },
    /// The server answered (after `sent` bytes).
    Answered { sent: u64, status_line: String },
}

impl UploadEnd {
    /// Whether the upload stopped before its end: a failure, or an answer to a partial body.
    fn cut_short(&self) -> bool {
        match self {
            UploadEnd::Failed { .. } => true,
            UploadEnd::Answered { sent, status_line } => *sent < GIB || !status_line.contains(" 20"),
        }
    }
}

impl std::fmt::Display for UploadEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadEnd::Failed { sent, error } => write!(f, "failed after {} MiB: {error}", sent >> 20),
            UploadEnd::Answered { sent, status_line } => write!(f, "answered {status_line:?} after {} MiB", sent >> 20),
        }
    }
}

impl Upload {
    /// Starts an upload session for `repository` through `proxy` (the `…/proxy/http/HOST` prefix)
    /// and a thread streaming the PATCH to the server on `port`.
    fn start(port: u16, proxy: &str, registry_host: &str, repository: &str) -> Upload {
        let path = proxy.split_once(&format!("127.0.0.1:{port}")).map_or(proxy, |(_, p)| p).to_owned();
        let started = request(port, "POST", &format!("{path}/v2/{repository}/blobs/uploads/"), "Content-Length: 0\r\n");
        assert!(started.starts_with("HTTP/1.1 202") || started.starts_with("HTTP/1.0 202"), "{started}");
        let location = started
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("location")).map(|(_, v)| v.trim()))
            .unwrap_or_else(|| panic!("no Location in {started}"));
        // The registry names itself absolutely; the page maps that onto the proxy the same way.
        let upstream = location.strip_prefix(&format!("http://{registry_host}")).unwrap_or(location);
        let target = format!("{path}{upstream}");

        let sent = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        let thread = thread::spawn(move || stream_patch(port, &target, &counter));
        Upload { sent, thread }
    }

    /// Waits until `bytes` have been written (30 s at most).
    fn wait_until_sent(&self, bytes: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.sent.load(Ordering::Relaxed) < bytes {
            assert!(!self.thread.is_finished(), "the upload ended before {bytes} bytes were sent");
            assert!(Instant::now() < deadline, "the upload did not reach {bytes} bytes in 30 s");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// How it ended; it must end within 10 s of being asked (the server is gone by then).
    fn end(self) -> UploadEnd {
        let deadline = Instant::now() + STOP_LIMIT;
        while !self.thread.is_finished() {
            assert!(Instant::now() < deadline, "the upload still hangs {STOP_LIMIT:?} after the server stopped");
            thread::sleep(Duration::from_millis(20));
        }
        self.thread.join().unwrap_or_else(|_| panic!("the upload thread panicked"))
    }
}

fn stream_patch(port: u16, target: &str, sent: &AtomicU64) -> UploadEnd {
    let fail = |error: io::Error| UploadEnd::Failed { sent: sent.load(Ordering::Relaxed), error };
    let mut stream = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(stream) => stream,
        Err(e) => return fail(e),
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let head = format!(
        "PATCH {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {GIB}\r\nConnection: close\r\n\r\n"
    );
    if let Err(e) = stream.write_all(head.as_bytes()) {
        return fail(e);
    }
    let chunk = vec![0x5a_u8; 1 << 20];
    while sent.load(Ordering::Relaxed) < GIB {
        if let Err(e) = stream.write_all(&chunk) {
            return fail(e);
        }
        sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        thread::sleep(Duration::from_millis(25));
    }
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) if !answer.is_empty() => UploadEnd::Answered {
            sent: sent.load(Ordering::Relaxed),
            status_line: String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_owned(),
        },
        Ok(_) => fail(io::Error::new(io::ErrorKind::UnexpectedEof, "the connection closed without an answer")),
        Err(e) => fail(e),
    }
}

/// One HTTP/1.0 request to 127.0.0.1:`port` with `headers` (each ending in CRLF) and no body;
/// returns the head and body as text.
fn request(port: u16, method: &str, target: &str, headers: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("127.0.0.1:{port}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let head = format!("{method} {target} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n");
    stream.write_all(head.as_bytes()).unwrap_or_else(|e| panic!("{method} {target}: {e}"));
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap_or_else(|e| panic!("{method} {target}: {e}"));
    String::from_utf8_lossy(&answer).into_owned()
}
