//! The server's memory under load, through the proxy to a real registry (distribution's
//! `docker-registry`, anonymous, storage in a temp dir): a 1 GiB blob in 4 MiB PATCH chunks and
//! back out again; and 32 pulls and 8 pushes at once. The server's peak resident set (`VmHWM`
//! in `/proc/PID/status`) must stay under 64 MiB because bodies are streamed, never buffered.
//!
//! Ignored by default (they write GiBs to disk and take a while):
//! `cargo test -j1 -p layerize-server --test push_rss -- --ignored --nocapture --test-threads 1`

use std::fs::{self, File};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use layerize_core::digest::Hasher;
use tempfile::TempDir;

const BLOB_SIZE: usize = 1 << 30;
const CHUNK_SIZE: usize = 4 << 20;
const RSS_LIMIT_KIB: u64 = 64 << 10;
/// The concurrent load: this many pulls of one blob and pushes of as many new ones, each blob
/// this big, all at once.
const PULLS: usize = 32;
const PUSHES: usize = 8;
const LOAD_BLOB_SIZE: usize = 64 << 20;

/// A child process of this test, killed (by its handle) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

fn spawn(mut command: Command, log: &Path) -> Running {
    let out = File::create(log).expect("create a log");
    let err = out.try_clone().expect("share the log");
    let child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    Running(child)
}

fn wait_for_port(port: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing answers on port {port}; log:\n{}",
            fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `/proc/PID/status` field in KiB (`VmHWM`, `VmRSS`).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Chunk `index` of the blob: distinct bytes per chunk, made without holding the blob.
fn chunk(index: usize) -> Vec<u8> {
    let mut state = (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..CHUNK_SIZE)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[tokio::test]
#[ignore = "pushes 1 GiB through the proxy; run with --ignored --nocapture"]
async fn pushing_a_1_gib_layer_keeps_the_server_under_64_mib() {
    let bench = Bench::start();
    let pid = bench.pid();
    let idle_kib = status_kib(pid, "VmHWM");

    let proxy = bench.proxy.clone();
    let via_proxy = |location: &str| bench.via_proxy(location);
    let client = reqwest::Client::new();
    let started = client
        .post(format!("{proxy}/v2/bench/rss/blobs/uploads/"))
        .header("content-length", "0")
        .send()
        .await
        .expect("POST");
    assert_eq!(started.status(), 202);
    let mut location = started.headers()["location"].to_str().expect("text").to_owned();

    let clock = Instant::now();
    let mut hasher = Hasher::new();
    for index in 0..BLOB_SIZE / CHUNK_SIZE {
        let bytes = chunk(index);
        hasher.update(&bytes);
        let start = index * CHUNK_SIZE;
        let patched = client
            .patch(via_proxy(&location))
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{start}-{}", start + CHUNK_SIZE - 1))
            .header("content-length", CHUNK_SIZE.to_string())
            .body(bytes)
            .send()
            .await
            .expect("PATCH");
        assert_eq!(patched.status(), 202, "chunk {index}");
        location = patched.headers()["location"].to_str().expect("text").to_owned();
    }
    let digest = hasher.finish().to_string();
    let separator = if location.contains('?') { '&' } else { '?' };
    let finished = client
        .put(format!("{}{separator}digest={digest}", via_proxy(&location)))
        .header("content-length", "0")
        .send()
        .await
        .expect("PUT");
    assert_eq!(finished.status(), 201);
    let pushed_in = clock.elapsed();
    let push_peak_kib = status_kib(pid, "VmHWM");

    // And back: the blob streamed out through the proxy hashes to the same digest.
    let clock = Instant::now();
    let mut pulled = client.get(format!("{proxy}/v2/bench/rss/blobs/{digest}")).send().await.expect("GET");
    assert_eq!(pulled.status(), 200);
    let mut hasher = Hasher::new();
    let mut size = 0;
    while let Some(bytes) = pulled.chunk().await.expect("blob bytes") {
        size += bytes.len();
        hasher.update(&bytes);
    }
    assert_eq!(size, BLOB_SIZE);
    assert_eq!(hasher.finish().to_string(), digest);
    let pulled_in = clock.elapsed();

    let peak_kib = status_kib(pid, "VmHWM");
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "1 GiB through the proxy: pushed in {} PATCHes of 4 MiB in {:.1} s, pulled in {:.1} s; \
         server VmHWM idle {:.1} MiB, after the push {:.1} MiB, after the pull {:.1} MiB",
        BLOB_SIZE / CHUNK_SIZE,
        pushed_in.as_secs_f64(),
        pulled_in.as_secs_f64(),
        mib(idle_kib),
        mib(push_peak_kib),
        mib(peak_kib),
    );
    assert!(
        push_peak_kib < RSS_LIMIT_KIB && peak_kib < RSS_LIMIT_KIB,
        "the server's peak RSS was {push_peak_kib} KiB after the push, {peak_kib} KiB after the pull"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "32 pulls and 8 pushes of 64 MiB at once through the proxy; run with --ignored --nocapture"]
async fn thirty_two_pulls_and_eight_pushes_at_once_keep_the_server_under_64_mib() {
    let bench = Bench::start();
    let pid = bench.pid();
    let idle_kib = status_kib(pid, "VmHWM");
    let client = reqwest::Client::new();

    // The blobs are made (and hashed) before the load, so that the client spends its cores on
    // moving bytes during it: a slow client makes the server hold more in flight.
    let pieces: Arc<Vec<Bytes>> = Arc::new((0..LOAD_BLOB_SIZE / CHUNK_SIZE).map(|i| Bytes::from(chunk(i))).collect());
    let blobs: Vec<LoadBlob> = (0..=PUSHES).map(|seed| LoadBlob::new(&pieces, seed)).collect();

    // The blob everyone pulls, pushed straight to the registry (not through the server).
    let registry = format!("http://127.0.0.1:{}", bench.registry_port);
    let pulled_digest = push(&client, &registry, "load/pulled", &blobs[0], |location| location.to_owned()).await;
    let after_setup_kib = status_kib(pid, "VmHWM");

    let clock = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..PULLS {
        let (client, url, digest) =
            (client.clone(), format!("{}/v2/load/pulled/blobs/{pulled_digest}", bench.proxy), pulled_digest.clone());
        tasks.push(tokio::spawn(async move {
            let mut response = client.get(url).send().await.expect("GET");
            assert_eq!(response.status(), 200);
            let mut hasher = Hasher::new();
            let mut size = 0;
            while let Some(bytes) = response.chunk().await.expect("blob bytes") {
                size += bytes.len();
                hasher.update(&bytes);
            }
            assert_eq!(size, LOAD_BLOB_SIZE);
            assert_eq!(hasher.finish().to_string(), digest);
        }));
    }
    for (seed, blob) in blobs.into_iter().enumerate().skip(1) {
        let (client, proxy, registry_port) = (client.clone(), bench.proxy.clone(), bench.registry_port);
        tasks.push(tokio::spawn(async move {
            let via_proxy = |location: &str| via_proxy(&proxy, registry_port, location);
            push(&client, &proxy, &format!("load/pushed-{seed}"), &blob, via_proxy).await;
        }));
    }
    for task in tasks {
        task.await.expect("a transfer failed");
    }
    let took = clock.elapsed();
    let peak_kib = status_kib(pid, "VmHWM");
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "{PULLS} pulls and {PUSHES} pushes of {} MiB at once through the proxy in {:.1} s; \
         server VmHWM idle {:.1} MiB, before the load {:.1} MiB, peak {:.1} MiB",
        LOAD_BLOB_SIZE >> 20,
        took.as_secs_f64(),
        mib(idle_kib),
        mib(after_setup_kib),
        mib(peak_kib),
    );
    assert!(peak_kib < RSS_LIMIT_KIB, "the server's peak RSS was {peak_kib} KiB");
}

/// A registry and the server in front of it, both stopped when dropped.
struct Bench {
    // Dropped in this order: the server, the registry, then their dir.
    server: Running,
    _registry: Running,
    registry_port: u16,
    /// `http://127.0.0.1:SERVER/proxy/http/127.0.0.1:REGISTRY`.
    proxy: String,
    _dir: TempDir,
}

impl Bench {
    fn start() -> Bench {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry_port = free_port();
        let config = dir.path().join("registry.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{registry_port}\n",
                dir.path().join("storage").display()
            ),
        )
        .expect("write the registry config");
        let registry_log = dir.path().join("registry.log");
        let mut registry = Command::new("docker-registry");
        registry.arg("serve").arg(&config);
        let _registry = spawn(registry, &registry_log);
        wait_for_port(registry_port, &registry_log);

        let server_port = free_port();
        let server_log = dir.path().join("server.log");
        let mut server = Command::new(env!("CARGO_BIN_EXE_layerize-server"));
        server
            .args(["--listen", &format!("127.0.0.1:{server_port}")])
            .args(["--dist", &dir.path().display().to_string()])
            .args(["--allow-registry", &format!("127.0.0.1:{registry_port}")])
            .env("RUST_LOG", "warn");
        let server = spawn(server, &server_log);
        wait_for_port(server_port, &server_log);
        let proxy = format!("http://127.0.0.1:{server_port}/proxy/http/127.0.0.1:{registry_port}");
        Bench { server, _registry, registry_port, proxy, _dir: dir }
    }

    fn pid(&self) -> u32 {
        self.server.0.id()
    }

    fn via_proxy(&self, location: &str) -> String {
        via_proxy(&self.proxy, self.registry_port, location)
    }
}

/// Upload locations are absolute registry URLs; the page maps them onto the proxy the same way.
fn via_proxy(proxy: &str, registry_port: u16, location: &str) -> String {
    let path = location.strip_prefix(&format!("http://127.0.0.1:{registry_port}")).unwrap_or(location);
    format!("{proxy}{path}")
}

/// A `LOAD_BLOB_SIZE` blob: the shared 4 MiB pieces, rotated by a seed (so each seed gives
/// another digest without new memory), and its digest.
struct LoadBlob {
    chunks: Vec<Bytes>,
    digest: String,
}

impl LoadBlob {
    fn new(pieces: &Arc<Vec<Bytes>>, seed: usize) -> LoadBlob {
        let mut chunks: Vec<Bytes> = pieces.iter().cloned().collect();
        let count = chunks.len();
        chunks.rotate_left(seed % count);
        let mut hasher = Hasher::new();
        for chunk in &chunks {
            hasher.update(chunk);
        }
        LoadBlob { chunks, digest: hasher.finish().to_string() }
    }
}

/// Pushes `blob` to `repository` at `base` (the registry or the proxy) as one streamed PATCH
/// and a PUT; `map` turns the registry's upload locations into URLs to send to. Returns the
/// digest.
async fn push(
    client: &reqwest::Client,
    base: &str,
    repository: &str,
    blob: &LoadBlob,
    map: impl Fn(&str) -> String,
) -> String {
    let started = client
        .post(format!("{base}/v2/{repository}/blobs/uploads/"))
        .header("content-length", "0")
        .send()
        .await
        .expect("POST");
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().expect("text").to_owned();
    let digest = blob.digest.clone();
    let body = futures_util::stream::iter(blob.chunks.clone().into_iter().map(Ok::<_, std::io::Error>));
    let patched = client
        .patch(map(&location))
        .header("content-type", "application/octet-stream")
        .header("content-length", LOAD_BLOB_SIZE.to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(patched.status(), 202, "{repository}");
    let location = patched.headers()["location"].to_str().expect("text").to_owned();
    let separator = if location.contains('?') { '&' } else { '?' };
    let finished = client
        .put(format!("{}{separator}digest={digest}", map(&location)))
        .header("content-length", "0")
        .send()
        .await
        .expect("PUT");
    assert_eq!(finished.status(), 201, "{repository}");
    digest
}
