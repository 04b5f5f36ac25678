//! `layerize-server` as a bare proxy (an empty page, no trunk build needed) on a free loopback
//! port, and a request sender that puts its target on the wire byte for byte, so that paths
//! such as `/v2/..%2f..%2fdebug/vars` reach the server without a URL parser tidying them first.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::http::Response;
use crate::process::{service_dir, Service};
use crate::{free_port, target_dir};

/// `layerize-server` from the workspace's debug build, logging at info, stopped on drop.
#[derive(Debug)]
pub struct Proxy {
    service: Service,
    port: u16,
}

impl Proxy {
    /// Serves an empty page and proxies to `allow` (`host:port` each) beside the defaults.
    pub fn start(allow: &[String]) -> Proxy {
        let binary = target_dir().join("debug").join("layerize-server");
        assert!(binary.is_file(), "{} does not exist: run `cargo build -p layerize-server` first", binary.display());
        let dir = service_dir("layerize-server");
        let dist = dir.path().join("dist");
        fs::create_dir(&dist).expect("create dist");
        fs::write(dist.join("index.html"), "<!doctype html><title>proxy test</title>").expect("write index.html");
        let port = free_port();
        let mut command = Command::new(binary);
        command.arg("--listen").arg(format!("127.0.0.1:{port}")).arg("--dist").arg(&dist).env("RUST_LOG", "info");
        for host in allow {
            command.arg("--allow-registry").arg(host);
        }
        let mut service = Service::spawn("layerize-server", dir, command);
        service.wait_for_port(port);
        Proxy { service, port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.service.log()
    }

    /// `METHOD target` sent to the proxy as it is written here.
    pub fn raw(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
        raw_request(self.port, method, target, headers)
    }

    /// Panics if the log holds any of `secrets` (or any header-ish word a secret comes with).
    pub fn assert_log_clean(&self, secrets: &[&str]) {
        let log = self.log();
        assert!(log.contains("listening on http://127.0.0.1:"), "{log}");
        for secret in secrets.iter().chain(&["Authorization", "authorization", "Basic ", "Bearer "]) {
            assert!(!log.contains(secret), "the server log contains {secret:?}:\n{log}");
        }
    }
}

/// One HTTP/1.0 request to `127.0.0.1:port` whose request line carries `target` unchanged; the
/// answer is read to the end of the connection (60 s at most between reads).
pub fn raw_request(port: u16, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("127.0.0.1:{port}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let mut head = format!("{method} {target} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap_or_else(|e| panic!("{method} {target}: {e}"));
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap_or_else(|e| panic!("{method} {target}: {e}"));
    crate::http::parse(&raw).unwrap_or_else(|e| panic!("{method} {target}: {e} in {:?}", String::from_utf8_lossy(&raw)))
}
