//! The server's proxy over real sockets against real registries: pulls from an anonymous
//! registry, the token flow with the realm listed or not, a chunked upload to an htpasswd
//! registry, a redirect to an unlisted loopback port, and a log that never holds a secret.
//!
//! Requests are sent the way the page sends them: to `/proxy/{scheme}/{host:port}/{path}`, with
//! the page's own `Authorization` headers and upload `Location`s mapped back onto the proxy.

use std::fs;
use std::future::IntoFuture;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use layerize_tests::http::Response;
use layerize_tests::oci_layout::sha256_digest;
use layerize_tests::{push_single, Format, Registry, RegistryAuth};
use serde_json::Value;
use tokio::sync::oneshot;
use url::Url;

const USER: &str = "proxyuser";
const PASSWORD: &str = "Pr0xy-pa55word-never-logged";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The harness's bare proxy, addressed the way the page's browser transport addresses it.
struct Proxy(layerize_tests::proxy::Proxy);

impl Proxy {
    /// Serves an empty page and proxies to `allow` (`host:port` each) beside the defaults.
    fn start(allow: &[String]) -> Proxy {
        Proxy(layerize_tests::proxy::Proxy::start(allow))
    }

    /// The proxy address of an upstream URL, as the page's browser transport makes it.
    fn url(&self, upstream: &str) -> String {
        let url = Url::parse(upstream).unwrap_or_else(|e| panic!("{upstream}: {e}"));
        let mut authority = url.host_str().expect("a host").to_owned();
        if let Some(port) = url.port() {
            authority.push_str(&format!(":{port}"));
        }
        let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
        format!("{}/proxy/{}/{authority}{}{query}", self.0.url(), url.scheme(), url.path())
    }

    fn log(&self) -> String {
        self.0.log()
    }

    /// Checks that nothing secret reached the log, upload state (`_state`) included.
    fn assert_log_clean(&self, secrets: &[&str]) {
        let with_state: Vec<&str> = secrets.iter().copied().chain(["_state"]).collect();
        self.0.assert_log_clean(&with_state);
    }
}

/// One request over HTTP/1.0 (the server closes the connection after its answer); a body is
/// sent with its Content-Length. Enough for the protocol, without the product's HTTP stack.
fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let parsed = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let port = parsed.port_or_known_default().expect("a port");
    let mut stream =
        TcpStream::connect((parsed.host_str().expect("a host"), port)).unwrap_or_else(|e| panic!("{url}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let query = parsed.query().map(|q| format!("?{q}")).unwrap_or_default();
    let mut head = format!("{method} {}{query} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n", parsed.path());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    layerize_tests::http::parse(&raw).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

fn get(url: &str, headers: &[(&str, &str)]) -> Response {
    send("GET", url, headers, &[])
}

fn basic() -> String {
    format!("Basic {}", STANDARD.encode(format!("{USER}:{PASSWORD}")))
}

/// A quoted parameter of a `WWW-Authenticate` challenge.
fn challenge_param(challenge: &str, name: &str) -> String {
    let start =
        challenge.find(&format!("{name}=\"")).unwrap_or_else(|| panic!("no {name} in {challenge}")) + name.len() + 2;
    let end = challenge[start..].find('"').expect("a closing quote") + start;
    challenge[start..end].to_owned()
}

/// Fetches the manifest of `repo:tag`, then its first layer, through the proxy with
/// `authorization`; both must hash to what the registry holds.
fn pull_through(proxy: &Proxy, registry: &Registry, repo: &str, manifest_digest: &str, authorization: Option<&str>) {
    let mut headers = vec![("Accept", OCI_MANIFEST)];
    headers.extend(authorization.map(|value| ("Authorization", value)));
    let manifest = get(&proxy.url(&format!("{}/v2/{repo}/manifests/v1", registry.url())), &headers);
    assert_eq!(manifest.status, 200, "{}", manifest.text());
    assert_eq!(sha256_digest(&manifest.body), manifest_digest);
    assert_eq!(manifest.header("Docker-Content-Digest"), Some(manifest_digest));
    let parsed: Value = serde_json::from_slice(&manifest.body).expect("a JSON manifest");
    let layer = &parsed["layers"][0];
    let digest = layer["digest"].as_str().expect("a layer digest");
    let blob = get(&proxy.url(&format!("{}/v2/{repo}/blobs/{digest}", registry.url())), &headers);
    assert_eq!(blob.status, 200, "{}", blob.text());
    assert_eq!(sha256_digest(&blob.body), digest);
    assert_eq!(Some(blob.body.len() as u64), layer["size"].as_u64());
}

#[test]
fn pulls_from_an_anonymous_registry() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let pushed = push_single(&registry, "proxy/single:v1", Format::Oci);
    let proxy = Proxy::start(&[registry.host()]);

    let ping = get(&proxy.url(&format!("{}/v2/", registry.url())), &[]);
    assert_eq!(ping.status, 200, "{}", ping.text());
    assert_eq!(ping.header("Docker-Distribution-Api-Version"), Some("registry/2.0"));
    pull_through(&proxy, &registry, &pushed.repo, &pushed.digest, None);
    assert!(proxy.log().contains("proxied"), "no request was logged:\n{}", proxy.log());
    proxy.assert_log_clean(&[]);
}

#[test]
fn token_realm_is_reached_only_when_listed() {
    let registry = Registry::start(RegistryAuth::token(USER, PASSWORD));
    let pushed = push_single(&registry, "proxy/token:v1", Format::Oci);
    let issuer = registry.token_issuer().expect("a token registry has an issuer");
    let realm = Url::parse(&issuer.realm()).expect("realm URL");
    let realm_host = format!("{}:{}", realm.host_str().expect("host"), realm.port().expect("port"));

    // The realm is on loopback: a registry's challenge alone does not open it.
    let proxy = Proxy::start(&[registry.host()]);
    let issued_before = issuer.requests();
    let ping = get(&proxy.url(&format!("{}/v2/", registry.url())), &[]);
    assert_eq!(ping.status, 401);
    let challenge = ping.header("X-Registry-WWW-Authenticate").expect("a challenge").to_owned();
    assert_eq!(challenge_param(&challenge, "realm"), issuer.realm());
    let token = get(&proxy.url(&format!("{}?service=x", issuer.realm())), &[("Authorization", &basic())]);
    assert_eq!(token.status, 403, "{}", token.text());
    assert!(token.text().contains(&realm_host) && token.text().contains("--allow-registry"), "{}", token.text());
    assert_eq!(issuer.requests(), issued_before, "the refused realm was reached");
    drop(proxy);

    let proxy = Proxy::start(&[registry.host(), realm_host]);
    // Without credentials: the registry's own 401 and challenge come back as they are.
    let manifest_url = format!("{}/v2/{}/manifests/v1", registry.url(), pushed.repo);
    let refused = get(&proxy.url(&manifest_url), &[("Accept", OCI_MANIFEST)]);
    assert_eq!(refused.status, 401, "{}", refused.text());
    let challenge = refused.header("X-Registry-WWW-Authenticate").expect("a challenge").to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    let scope = challenge_param(&challenge, "scope");
    assert_eq!(scope, format!("repository:{}:pull", pushed.repo));

    // The token, fetched through the proxy with Basic credentials, works for the manifest.
    let mut token_url = Url::parse(&challenge_param(&challenge, "realm")).expect("realm URL");
    token_url
        .query_pairs_mut()
        .append_pair("service", &challenge_param(&challenge, "service"))
        .append_pair("scope", &scope);
    let answer = get(&proxy.url(token_url.as_str()), &[("Authorization", &basic())]);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let token: Value = serde_json::from_slice(&answer.body).expect("a JSON token answer");
    let token = token["token"].as_str().expect("a token").to_owned();
    pull_through(&proxy, &registry, &pushed.repo, &pushed.digest, Some(&format!("Bearer {token}")));

    // Without Basic credentials the issuer's own 401 comes back too.
    let anonymous = get(&proxy.url(token_url.as_str()), &[]);
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    assert!(anonymous.header("X-Registry-WWW-Authenticate").is_some_and(|c| c.starts_with("Basic ")));

    proxy.assert_log_clean(&[PASSWORD, &token, &STANDARD.encode(format!("{USER}:{PASSWORD}"))]);
}

#[test]
fn chunked_upload_to_an_htpasswd_registry() {
    let registry = Registry::start(RegistryAuth::htpasswd(USER, PASSWORD));
    let proxy = Proxy::start(&[registry.host()]);
    let auth = basic();
    // 2.5 MiB that do not compress to nothing, in 1 MiB chunks.
    let blob: Vec<u8> = (0u32..(5 << 19)).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let digest = sha256_digest(&blob);
    let repo = "proxy/upload";

    let started = send(
        "POST",
        &proxy.url(&format!("{}/v2/{repo}/blobs/uploads/", registry.url())),
        &[("Authorization", &auth)],
        &[],
    );
    assert_eq!(started.status, 202, "{}", started.text());
    let mut location = started.header("Location").expect("an upload location").to_owned();
    let mut offset = 0;
    for chunk in blob.chunks(1 << 20) {
        let upstream = Url::parse(&registry.url()).and_then(|base| base.join(&location)).expect("location URL");
        let range = format!("{offset}-{}", offset + chunk.len() - 1);
        let headers =
            [("Authorization", auth.as_str()), ("Content-Type", "application/octet-stream"), ("Content-Range", &range)];
        let patched = send("PATCH", &proxy.url(upstream.as_str()), &headers, chunk);
        assert_eq!(patched.status, 202, "{}", patched.text());
        assert_eq!(patched.header("Range"), Some(format!("0-{}", offset + chunk.len() - 1).as_str()));
        location = patched.header("Location").expect("the next location").to_owned();
        offset += chunk.len();
    }
    let mut finish = Url::parse(&registry.url()).and_then(|base| base.join(&location)).expect("location URL");
    finish.query_pairs_mut().append_pair("digest", &digest);
    let finished = send("PUT", &proxy.url(finish.as_str()), &[("Authorization", &auth)], &[]);
    assert_eq!(finished.status, 201, "{}", finished.text());
    assert_eq!(finished.header("Docker-Content-Digest"), Some(digest.as_str()));

    let blob_url = proxy.url(&format!("{}/v2/{repo}/blobs/{digest}", registry.url()));
    let head = send("HEAD", &blob_url, &[("Authorization", &auth)], &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some(blob.len().to_string().as_str()));
    let fetched = get(&blob_url, &[("Authorization", &auth)]);
    assert_eq!(fetched.status, 200);
    assert!(fetched.body == blob, "the blob came back different");

    proxy.assert_log_clean(&[PASSWORD, &STANDARD.encode(format!("{USER}:{PASSWORD}"))]);
}

/// A listed upstream that redirects to a loopback port nobody listed: behaviour no real
/// registry shows, so a small fake serves it.
#[test]
fn a_redirect_to_an_unlisted_loopback_port_is_refused() {
    let unlisted = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    unlisted.set_nonblocking(true).expect("non-blocking");
    let target = format!("http://{}/x", unlisted.local_addr().expect("address"));
    let location = target.clone();
    let upstream = Upstream::start(Router::new().route(
        "/v2/{*rest}",
        routing::get(move || async move {
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)]).into_response()
        }),
    ));
    let proxy = Proxy::start(&[upstream.addr.to_string()]);

    let answer = get(
        &proxy.url(&format!("http://{}/v2/a/blobs/sha256:0", upstream.addr)),
        &[("Authorization", "Bearer not-for-elsewhere")],
    );
    assert_eq!(answer.status, 403, "{}", answer.text());
    let unlisted_host = target.trim_start_matches("http://").trim_end_matches("/x");
    assert!(answer.text().contains(unlisted_host) && answer.text().contains("loopback"), "{}", answer.text());
    assert!(unlisted.accept().is_err(), "the proxy connected to the unlisted port");
    proxy.assert_log_clean(&["not-for-elsewhere"]);
}

/// A small HTTP server on a loopback port in its own thread, stopped on drop.
struct Upstream {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Upstream {
    fn start(router: Router) -> Upstream {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("adopt the socket");
                tokio::select! {
                    _ = axum::serve(listener, router).into_future() => {}
                    _ = stopped => {}
                }
            });
        });
        Upstream { addr, shutdown: Some(shutdown), thread: Some(thread) }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A whole blob download is checked on the way: the proxy names the digest it checked, and a
/// blob that does not match it is cut short (curl, an independent client, sees a broken
/// transfer and fewer bytes); a Range request passes unchecked and unlabelled.
#[test]
fn whole_blob_downloads_are_checked_against_their_digest() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let pushed = push_single(&registry, "proxy/checked:v1", Format::Oci);
    let proxy = Proxy::start(&[registry.host()]);
    let manifest =
        get(&proxy.url(&format!("{}/v2/{}/manifests/v1", registry.url(), pushed.repo)), &[("Accept", OCI_MANIFEST)]);
    let parsed: Value = serde_json::from_slice(&manifest.body).expect("a JSON manifest");
    let digest = parsed["layers"][0]["digest"].as_str().expect("a layer digest").to_owned();
    let url = proxy.url(&format!("{}/v2/{}/blobs/{digest}", registry.url(), pushed.repo));

    let blob = get(&url, &[]);
    assert_eq!(blob.status, 200);
    assert_eq!(blob.header("x-layerize-checked-digest"), Some(digest.as_str()));
    assert_eq!(sha256_digest(&blob.body), digest);
    let ranged = get(&url, &[("Range", "bytes=0-99")]);
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.header("x-layerize-checked-digest"), None);
    assert_eq!(ranged.body, blob.body[..100]);

    let hex = digest.trim_start_matches("sha256:");
    let data = registry.storage_dir().join(format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]));
    let mut damaged = blob.body.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    fs::write(&data, &damaged).expect("damage the registry's blob");
    let out = Command::new("curl").args(["-s", "-o", "-", &url]).output().expect("curl");
    assert!(!out.status.success(), "curl read a damaged blob to its end");
    assert!(out.stdout.len() < damaged.len(), "{} of {} bytes passed", out.stdout.len(), damaged.len());
    assert!(proxy.log().contains("does not match its digest"), "{}", proxy.log());
}
