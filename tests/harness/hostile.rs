//! A hostile registry: a small in-memory registry on a free loopback port, written on raw
//! sockets so that it can misbehave byte by byte, and recording every request it gets.
//!
//! By default it is an honest (if minimal) registry: `/v2/`, blobs and manifests by repository
//! (HEAD, GET, PUT), uploads (`POST`, `PATCH`, `PUT ?digest=`, cross-repository mounts) and
//! `tags/list`, optionally behind Basic or Bearer authentication, plus `GET /token` answering a
//! configured token (so one instance can be another's token realm). [`Rule`]s, checked before
//! anything else (authentication included: a rule answers whoever asks), make it misbehave:
//! an upload `Location` on another host, redirects (chains, loops), a realm elsewhere, stalls
//! before the headers or in the middle of a body, endless bodies, a wrong digest, a wrong
//! `Content-Length`, any status.
//!
//! The same type serves as a *tripwire*: an instance with no rules and no auth records what
//! reaches it (method, path, headers, connections) and answers uploads as a registry would, so a
//! push whose upload was sent there completes and the test can look at what it got.
//!
//! Every connection gets one answer and is closed (`Connection: close`). Dropping the server
//! stops its accept loop and every connection it holds open.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::oci_layout::sha256_digest;

const POLL: Duration = Duration::from_millis(50);
/// Largest request body kept (uploads in tests are small).
const MAX_BODY: usize = 256 << 20;
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// How clients must authenticate to the default (registry) routes.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    #[default]
    None,
    /// `Authorization: Basic base64(user:password)`, else 401 with a Basic challenge.
    Basic { user: String, password: String },
    /// `Authorization: Bearer TOKEN`, else 401 with `Bearer realm="REALM",service="hostile"`.
    Bearer { realm: String, token: String },
}

/// What a [`Rule`] does with a request it matches.
#[derive(Clone, Debug)]
pub enum Action {
    /// This status, these headers and this body.
    Answer { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// A redirect (301, 302, 303, 307 or 308) to `location`, as given (relative or absolute).
    Redirect { status: u16, location: String },
    /// Reads the request and never answers; the connection stays open until the client closes
    /// it or the server stops.
    StallBeforeHeaders,
    /// The registry's own answer, with its full `Content-Length`, but only the first `after`
    /// bytes of its body; then silence with the connection open.
    StallMidBody { after: usize },
    /// The registry's status and headers without a `Content-Length`, then zeros for ever (until
    /// the client closes the connection or the server stops).
    Endless,
    /// The registry's own answer with one byte in the middle of the body changed.
    Corrupt,
    /// The registry's own answer declaring `missing` more bytes than it sends; then the
    /// connection is closed.
    ShortBody { missing: usize },
}

impl Action {
    /// An answer with a status and a plain-text body.
    pub fn status(status: u16, body: &str) -> Action {
        Action::Answer {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// An answer with a status and extra headers, no body.
    pub fn with_headers(status: u16, headers: &[(&str, &str)]) -> Action {
        Action::Answer {
            status,
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            body: Vec::new(),
        }
    }

    /// A 307 to `location`.
    pub fn redirect(location: &str) -> Action {
        Action::Redirect { status: 307, location: location.to_owned() }
    }
}

/// A misbehaviour: requests with `method` (or any, for `*`) whose target (path and query, as
/// sent) contains `pattern` get `action`, for the first `times` of them (or all).
#[derive(Clone, Debug)]
pub struct Rule {
    method: String,
    pattern: String,
    action: Action,
    times: Option<usize>,
}

impl Rule {
    pub fn new(method: &str, pattern: &str, action: Action) -> Rule {
        Rule { method: method.to_owned(), pattern: pattern.to_owned(), action, times: None }
    }

    /// Applies only to the first `n` matching requests.
    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }

    fn matches(&self, request: &Request) -> bool {
        self.times != Some(0)
            && (self.method == "*" || self.method.eq_ignore_ascii_case(&request.method))
            && request.target.contains(&self.pattern)
    }
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
}

impl Seen {
    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn authorization(&self) -> Option<&str> {
        self.header("authorization")
    }
}

/// An image [`Hostile::add_image`] stored: its digests and the layer's bytes.
#[derive(Clone, Debug)]
pub struct StoredImage {
    pub manifest_digest: String,
    pub manifest: Vec<u8>,
    pub config_digest: String,
    pub layer_digest: String,
    pub layer: Vec<u8>,
}

#[derive(Default)]
struct Store {
    /// (repository, digest) → bytes.
    blobs: HashMap<(String, String), Vec<u8>>,
    /// (repository, tag or digest) → (media type, bytes).
    manifests: HashMap<(String, String), (String, Vec<u8>)>,
    uploads: HashMap<String, Vec<u8>>,
    next_upload: u64,
}

struct Shared {
    store: Mutex<Store>,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    auth: Mutex<Auth>,
    /// Where upload `Location`s point (`http://host:port`), if not here.
    upload_base: Mutex<Option<String>>,
    /// The token `GET /token` hands out, if any.
    token: Mutex<Option<String>>,
    connections: AtomicUsize,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The running server; stopped on drop.
pub struct Hostile {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Hostile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hostile").field("addr", &self.addr).finish()
    }
}

impl Hostile {
    /// Starts a registry with `auth` on a free loopback port.
    pub fn start(auth: Auth) -> Hostile {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            store: Mutex::default(),
            rules: Mutex::default(),
            seen: Mutex::default(),
            auth: Mutex::new(auth),
            upload_base: Mutex::default(),
            token: Mutex::default(),
            connections: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        let thread = thread::spawn(move || accept_loop(&listener, &accepting));
        Hostile { addr, shared, thread: Some(thread) }
    }

    /// A tripwire: no auth, no rules; it records what reaches it and completes uploads.
    pub fn tripwire() -> Hostile {
        Hostile::start(Auth::None)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT/REPO:TAG`.
    pub fn reference(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.addr)
    }

    pub fn set_auth(&self, auth: Auth) {
        *lock(&self.shared.auth) = auth;
    }

    /// Upload `Location`s point at `base` (`http://host:port`) instead of this server.
    pub fn set_upload_base(&self, base: &str) {
        *lock(&self.shared.upload_base) = Some(base.trim_end_matches('/').to_owned());
    }

    /// `GET /token` (any query) answers `{"token": TOKEN}`.
    pub fn serve_token(&self, token: &str) {
        *lock(&self.shared.token) = Some(token.to_owned());
    }

    pub fn add_rule(&self, rule: Rule) {
        lock(&self.shared.rules).push(rule);
    }

    pub fn clear_rules(&self) {
        lock(&self.shared.rules).clear();
    }

    /// Stores `bytes` as a blob of `repository`; returns its digest.
    pub fn put_blob(&self, repository: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        lock(&self.shared.store).blobs.insert((repository.to_owned(), digest.clone()), bytes.to_vec());
        digest
    }

    /// Stores a manifest under `reference` (a tag) and its digest; returns the digest.
    pub fn put_manifest(&self, repository: &str, reference: &str, media_type: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let mut store = lock(&self.shared.store);
        for key in [reference, digest.as_str()] {
            store.manifests.insert((repository.to_owned(), key.to_owned()), (media_type.to_owned(), bytes.to_vec()));
        }
        digest
    }

    /// Stores a small single-platform OCI image (for this machine's architecture) as
    /// `repository:tag`: one gzipped layer of `layer_size` incompressible bytes in
    /// `/data.bin` (at least a few hundred KiB make a body worth stalling in), and its config.
    pub fn add_image(&self, repository: &str, tag: &str, layer_size: usize) -> StoredImage {
        let data = noise(layer_size);
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, "data.bin", &data[..]).expect("tar member");
        let tar = tar.into_inner().expect("tar");
        let diff_id = sha256_digest(&tar);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).expect("gzip");
        let layer = gz.finish().expect("gzip");
        let arch = match std::env::consts::ARCH {
            "aarch64" => "arm64",
            _ => "amd64",
        };
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "hostile test image"}],
        }))
        .expect("config JSON");
        let config_digest = self.put_blob(repository, &config);
        let layer_digest = self.put_blob(repository, &layer);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
        }))
        .expect("manifest JSON");
        let manifest_digest = self.put_manifest(repository, tag, OCI_MANIFEST, &manifest);
        StoredImage { manifest_digest, manifest, config_digest, layer_digest, layer }
    }

    /// The tags of `repository` (pushed or stored).
    pub fn tags(&self, repository: &str) -> Vec<String> {
        let store = lock(&self.shared.store);
        let mut tags: Vec<String> = store
            .manifests
            .keys()
            .filter(|(repo, reference)| repo == repository && !reference.starts_with("sha256:"))
            .map(|(_, reference)| reference.clone())
            .collect();
        tags.sort();
        tags
    }

    /// Every request so far, in order of arrival.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    /// Connections accepted so far (a connection that sent nothing counts too).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Panics if any request's target or header value so far holds one of `secrets`.
    pub fn assert_never_saw(&self, secrets: &[&str]) {
        for seen in self.seen() {
            for secret in secrets {
                assert!(
                    !seen.target.contains(secret) && !seen.headers.iter().any(|(_, v)| v.contains(secret)),
                    "{} received {secret:?} in {} {}",
                    self.host(),
                    seen.method,
                    seen.target
                );
            }
        }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// `len` bytes that gzip cannot shrink (a fixed xorshift sequence).
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let shared = Arc::clone(shared);
                thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(10)),
            Err(_) => thread::sleep(POLL),
        }
    }
}

/// A request as parsed.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    fn query(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes()).find(|(n, _)| n == name).map(|(_, v)| v.into_owned())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A registry's answer before a rule mangles how it is sent.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// HEAD: the headers say the body's length, no body is sent.
    head: bool,
}

impl Reply {
    fn new(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new(), head: false }
    }

    fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn body(mut self, content_type: &str, body: Vec<u8>) -> Reply {
        self.headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        self.body = body;
        self
    }

    fn error(status: u16, code: &str, message: &str) -> Reply {
        let body = serde_json::json!({"errors": [{"code": code, "message": message}]});
        Reply::new(status).body("application/json", body.to_string().into_bytes())
    }
}

/// The connection: a buffered reader that gives up when the server stops.
struct Conn<'a> {
    stream: TcpStream,
    buf: Vec<u8>,
    shared: &'a Shared,
}

impl Conn<'_> {
    /// Reads more bytes into the buffer; `false` at the end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 16 << 10];
        loop {
            if self.shared.stop.load(Ordering::SeqCst) {
                return Err(io::Error::other("stopped"));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..at]).into_owned();
                self.buf.drain(..at + 2);
                return Ok(line);
            }
            if self.buf.len() > 64 << 10 || !self.fill()? {
                return Err(io::Error::new(ErrorKind::InvalidData, "no end of line"));
            }
        }
    }

    fn take(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill()? {
                return Err(io::Error::new(ErrorKind::UnexpectedEof, "body cut short"));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    fn request(&mut self) -> io::Result<Request> {
        let first = self.line()?;
        let mut parts = first.split(' ');
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return Err(io::Error::new(ErrorKind::InvalidData, "bad request line"));
        };
        let (method, target) = (method.to_owned(), target.to_owned());
        let mut headers = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let mut request = Request { method, target, headers, body: Vec::new() };
        if request.header("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
            loop {
                let size_line = self.line()?;
                let size = usize::from_str_radix(size_line.split(';').next().unwrap_or_default().trim(), 16)
                    .map_err(|_| io::Error::new(ErrorKind::InvalidData, "bad chunk size"))?;
                if size == 0 {
                    while !self.line()?.is_empty() {}
                    break;
                }
                if request.body.len() + size > MAX_BODY {
                    return Err(io::Error::new(ErrorKind::InvalidData, "body too large"));
                }
                let chunk = self.take(size)?;
                request.body.extend_from_slice(&chunk);
                self.take(2)?;
            }
        } else if let Some(len) = request.header("content-length").and_then(|l| l.parse::<usize>().ok()) {
            if len > MAX_BODY {
                return Err(io::Error::new(ErrorKind::InvalidData, "body too large"));
            }
            request.body = self.take(len)?;
        }
        Ok(request)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.shared.stop.load(Ordering::SeqCst) {
                return Err(io::Error::other("stopped"));
            }
            match self.stream.write(rest) {
                Ok(0) => return Err(io::Error::new(ErrorKind::WriteZero, "closed")),
                Ok(n) => rest = &rest[n..],
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Keeps the connection open, saying nothing, until the client closes it or the server
    /// stops.
    fn hold(&mut self) {
        let mut sink = [0u8; 4096];
        while !self.shared.stop.load(Ordering::SeqCst) {
            match self.stream.read(&mut sink) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(_) => return,
            }
        }
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(POLL))?;
    stream.set_write_timeout(Some(POLL))?;
    let mut conn = Conn { stream, buf: Vec::new(), shared };
    let request = conn.request()?;
    lock(&shared.seen).push(Seen {
        method: request.method.clone(),
        target: request.target.clone(),
        headers: request.headers.clone(),
        body_len: request.body.len(),
    });
    let action = {
        let mut rules = lock(&shared.rules);
        rules.iter_mut().find(|rule| rule.matches(&request)).map(|rule| {
            if let Some(n) = rule.times.as_mut() {
                *n -= 1;
            }
            rule.action.clone()
        })
    };
    match action {
        None => {
            let reply = answer(shared, &request, true);
            send(&mut conn, &reply, None)
        }
        Some(Action::Answer { status, headers, body }) => {
            let reply = Reply { status, headers, body, head: request.method == "HEAD" };
            send(&mut conn, &reply, None)
        }
        Some(Action::Redirect { status, location }) => {
            send(&mut conn, &Reply::new(status).header("Location", &location), None)
        }
        Some(Action::StallBeforeHeaders) => {
            conn.hold();
            Ok(())
        }
        Some(Action::StallMidBody { after }) => {
            let reply = answer(shared, &request, false);
            let after = after.min(reply.body.len());
            conn.write(&head(&reply, Some(reply.body.len())))?;
            conn.write(&reply.body[..after])?;
            conn.hold();
            Ok(())
        }
        Some(Action::Endless) => {
            let reply = answer(shared, &request, false);
            let mut text = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
            for (name, value) in &reply.headers {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
            text.push_str("Connection: close\r\n\r\n");
            conn.write(text.as_bytes())?;
            let zeros = vec![0u8; 64 << 10];
            loop {
                conn.write(&zeros)?;
            }
        }
        Some(Action::Corrupt) => {
            let mut reply = answer(shared, &request, false);
            if !reply.body.is_empty() {
                let middle = reply.body.len() / 2;
                reply.body[middle] ^= 0x55;
            }
            send(&mut conn, &reply, None)
        }
        Some(Action::ShortBody { missing }) => {
            let reply = answer(shared, &request, false);
            send(&mut conn, &reply, Some(reply.body.len() + missing))
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// The status line and headers, with `Content-Length` (the body's, unless `declared`).
fn head(reply: &Reply, declared: Option<usize>) -> Vec<u8> {
    let mut text = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        if !name.eq_ignore_ascii_case("content-length") {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    let length = declared.unwrap_or(reply.body.len());
    text.push_str(&format!("Content-Length: {length}\r\nConnection: close\r\n\r\n"));
    text.into_bytes()
}

fn send(conn: &mut Conn<'_>, reply: &Reply, declared: Option<usize>) -> io::Result<()> {
    conn.write(&head(reply, declared))?;
    if !reply.head {
        conn.write(&reply.body)?;
    }
    let _ = conn.stream.flush();
    let _ = conn.stream.shutdown(std::net::Shutdown::Write);
    // Let the client read the answer before the socket goes (a close with unread input would
    // reset the connection).
    conn.hold();
    Ok(())
}

/// What an honest registry answers (with the authentication it asks for, if `check_auth`).
fn answer(shared: &Shared, request: &Request, check_auth: bool) -> Reply {
    let mut reply = route(shared, request, check_auth);
    reply.head = request.method == "HEAD";
    reply
}

fn route(shared: &Shared, request: &Request, check_auth: bool) -> Reply {
    let path = request.path().to_owned();
    if path == "/token" {
        return match lock(&shared.token).clone() {
            Some(token) => Reply::new(200).body(
                "application/json",
                serde_json::json!({"token": token, "access_token": token}).to_string().into(),
            ),
            None => Reply::error(404, "NOT_FOUND", "no token here"),
        };
    }
    let Some(api) = path.strip_prefix("/v2/") else {
        return Reply::error(404, "NOT_FOUND", "not a registry path");
    };
    if check_auth {
        if let Some(refusal) = refuse(shared, request, api) {
            return refusal;
        }
    }
    let version = |r: Reply| r.header("Docker-Distribution-Api-Version", "registry/2.0");
    if api.is_empty() {
        return version(Reply::new(200).body("application/json", b"{}".to_vec()));
    }
    let method = request.method.as_str();
    let mut store = lock(&shared.store);
    if let Some(at) = api.rfind("/blobs/uploads/") {
        let repo = api[..at].to_owned();
        let id = api[at + "/blobs/uploads/".len()..].to_owned();
        let base = lock(&shared.upload_base).clone().unwrap_or_default();
        if method == "POST" && id.is_empty() {
            if let (Some(digest), Some(from)) = (request.query("mount"), request.query("from")) {
                if let Some(bytes) = store.blobs.get(&(from, digest.clone())).cloned() {
                    store.blobs.insert((repo.clone(), digest.clone()), bytes);
                    return version(
                        Reply::new(201)
                            .header("Location", &format!("/v2/{repo}/blobs/{digest}"))
                            .header("Docker-Content-Digest", &digest),
                    );
                }
            }
            store.next_upload += 1;
            let id = format!("upload-{}", store.next_upload);
            store.uploads.insert(id.clone(), Vec::new());
            return version(
                Reply::new(202)
                    .header("Location", &format!("{base}/v2/{repo}/blobs/uploads/{id}"))
                    .header("Docker-Upload-UUID", &id)
                    .header("Range", "0-0"),
            );
        }
        let upload = store.uploads.entry(id.clone()).or_default();
        upload.extend_from_slice(&request.body);
        let len = upload.len();
        match method {
            "PATCH" => {
                return version(
                    Reply::new(202)
                        .header("Location", &format!("{base}/v2/{repo}/blobs/uploads/{id}"))
                        .header("Docker-Upload-UUID", &id)
                        .header("Range", &format!("0-{}", len.saturating_sub(1))),
                )
            }
            "PUT" => {
                let bytes = store.uploads.remove(&id).unwrap_or_default();
                let digest = sha256_digest(&bytes);
                if request.query("digest").as_deref() != Some(digest.as_str()) {
                    return Reply::error(400, "DIGEST_INVALID", "provided digest did not match uploaded content");
                }
                store.blobs.insert((repo.clone(), digest.clone()), bytes);
                return version(
                    Reply::new(201)
                        .header("Location", &format!("/v2/{repo}/blobs/{digest}"))
                        .header("Docker-Content-Digest", &digest),
                );
            }
            _ => return Reply::error(405, "UNSUPPORTED", "method not allowed"),
        }
    }
    if let Some(at) = api.rfind("/blobs/") {
        let key = (api[..at].to_owned(), api[at + "/blobs/".len()..].to_owned());
        return match store.blobs.get(&key) {
            Some(bytes) if method == "GET" || method == "HEAD" => version(
                Reply::new(200).body("application/octet-stream", bytes.clone()).header("Docker-Content-Digest", &key.1),
            ),
            _ => Reply::error(404, "BLOB_UNKNOWN", "blob unknown to registry"),
        };
    }
    if let Some(at) = api.rfind("/manifests/") {
        let key = (api[..at].to_owned(), api[at + "/manifests/".len()..].to_owned());
        if method == "PUT" {
            let media_type = request.header("content-type").unwrap_or(OCI_MANIFEST).to_owned();
            let digest = sha256_digest(&request.body);
            for reference in [key.1.clone(), digest.clone()] {
                store.manifests.insert((key.0.clone(), reference), (media_type.clone(), request.body.clone()));
            }
            return version(
                Reply::new(201)
                    .header("Location", &format!("/v2/{}/manifests/{digest}", key.0))
                    .header("Docker-Content-Digest", &digest),
            );
        }
        return match store.manifests.get(&key) {
            Some((media_type, bytes)) if method == "GET" || method == "HEAD" => version(
                Reply::new(200).body(media_type, bytes.clone()).header("Docker-Content-Digest", &sha256_digest(bytes)),
            ),
            _ => Reply::error(404, "MANIFEST_UNKNOWN", "manifest unknown"),
        };
    }
    if let Some(repo) = api.strip_suffix("/tags/list") {
        let mut tags: Vec<&String> = store
            .manifests
            .keys()
            .filter(|(r, reference)| r == repo && !reference.starts_with("sha256:"))
            .map(|(_, reference)| reference)
            .collect();
        if tags.is_empty() {
            return Reply::error(404, "NAME_UNKNOWN", "repository name not known to registry");
        }
        tags.sort();
        return Reply::new(200)
            .body("application/json", serde_json::json!({"name": repo, "tags": tags}).to_string().into());
    }
    Reply::error(404, "NOT_FOUND", "unknown route")
}

/// The 401 a request without the right credentials gets, if it is one.
fn refuse(shared: &Shared, request: &Request, api: &str) -> Option<Reply> {
    let given = request.header("authorization").unwrap_or_default();
    let repository =
        ["/blobs/", "/manifests/", "/tags/"].iter().find_map(|marker| api.find(marker).map(|at| &api[..at]));
    match &*lock(&shared.auth) {
        Auth::None => None,
        Auth::Basic { user, password } => (given != basic(user, password)).then(|| {
            Reply::error(401, "UNAUTHORIZED", "authentication required")
                .header("WWW-Authenticate", "Basic realm=\"hostile\"")
        }),
        Auth::Bearer { realm, token } => (given != format!("Bearer {token}")).then(|| {
            let scope = repository.map(|repo| format!(",scope=\"repository:{repo}:pull,push\"")).unwrap_or_default();
            Reply::error(401, "UNAUTHORIZED", "authentication required")
                .header("WWW-Authenticate", &format!("Bearer realm=\"{realm}\",service=\"hostile\"{scope}"))
        }),
    }
}
