//! The token issuer of Docker's token authentication, served from the test process: it checks
//! HTTP Basic credentials and answers with a JWT granting exactly the scopes asked for, signed by
//! a key whose certificate the registry trusts.

use std::future::IntoFuture;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::cert::SigningCert;

/// The `service` the registry names in its challenge and expects as the token audience.
pub const SERVICE: &str = "layerize-test-registry";
/// The `iss` of every token, which the registry checks.
pub const ISSUER: &str = "layerize-test-token-issuer";
/// Seconds a token is valid.
pub const LIFETIME_SECS: u64 = 300;

/// A running token issuer. Dropping it stops its server thread.
#[derive(Debug)]
pub struct TokenIssuer {
    addr: SocketAddr,
    state: Arc<Issuer>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct Issuer {
    user: String,
    password: String,
    cert: SigningCert,
    requests: AtomicUsize,
    issued: AtomicUsize,
    /// Makes every `jti` distinct, minted ones included.
    minted: AtomicUsize,
    granted: Mutex<Vec<String>>,
}

/// One `type:name:actions` scope, as asked for and as granted in the `access` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Access {
    kind: String,
    name: String,
    actions: Vec<String>,
}

impl Access {
    /// Splits at the first and last colon: names may hold colons (`registry:catalog:*` has none,
    /// but a repository name with a port-like part could), types and actions never do.
    fn parse(scope: &str) -> Option<Access> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Access {
            kind: kind.to_owned(),
            name: name.to_owned(),
            actions: actions.split(',').filter(|action| !action.is_empty()).map(str::to_owned).collect(),
        })
    }

    fn claim(&self) -> Value {
        json!({ "type": self.kind, "name": self.name, "actions": self.actions })
    }
}

impl TokenIssuer {
    /// Starts serving `GET /token` on a free loopback port, accepting only `user`/`password`.
    pub fn start(user: &str, password: &str, cert: SigningCert) -> TokenIssuer {
        // Bound here, not in the server thread, so the port is known and taken before we return.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("token issuer: cannot bind a loopback port: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("token issuer: cannot make its socket non-blocking: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("token issuer: cannot read its address: {e}"));
        let state = Arc::new(Issuer {
            user: user.to_owned(),
            password: password.to_owned(),
            cert,
            requests: AtomicUsize::new(0),
            issued: AtomicUsize::new(0),
            minted: AtomicUsize::new(0),
            granted: Mutex::new(Vec::new()),
        });
        let app = Router::new().route("/token", get(serve_token)).with_state(Arc::clone(&state));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("token-issuer".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| panic!("token issuer: cannot build a runtime: {e}"));
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .unwrap_or_else(|e| panic!("token issuer: cannot adopt its socket: {e}"));
                    // Not a graceful shutdown: a client holding a keep-alive connection must
                    // not be able to make the test wait.
                    tokio::select! {
                        result = axum::serve(listener, app).into_future() => {
                            if let Err(e) = result {
                                eprintln!("token issuer on {addr} stopped: {e}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
            })
            .unwrap_or_else(|e| panic!("token issuer: cannot start its thread: {e}"));
        TokenIssuer { addr, state, shutdown: Some(shutdown), thread: Some(thread) }
    }

    /// The realm URL the registry sends clients to, `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// Requests served so far, refused ones included.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Tokens handed out so far.
    pub fn tokens_issued(&self) -> usize {
        self.state.issued.load(Ordering::SeqCst)
    }

    /// Every scope granted so far, in the order asked for, as `type:name:actions`.
    pub fn granted_scopes(&self) -> Vec<String> {
        self.state.granted.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A valid token for `subject` granting `scopes` (`repository:NAME:pull,push`), made without
    /// a request, for tests that hand a client a token directly.
    pub fn mint(&self, subject: &str, scopes: &[&str]) -> String {
        let access: Vec<Access> =
            scopes.iter().map(|scope| Access::parse(scope).unwrap_or_else(|| panic!("bad scope {scope:?}"))).collect();
        self.state.mint(subject, &access, unix_now())
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Issuer {
    fn mint(&self, subject: &str, access: &[Access], now: u64) -> String {
        let header = json!({ "typ": "JWT", "alg": "RS256", "x5c": [self.cert.der_base64()] });
        let claims = json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + LIFETIME_SECS,
            "nbf": now,
            "iat": now,
            "jti": format!("layerize-{now}-{}", self.minted.fetch_add(1, Ordering::SeqCst)),
            "access": access.iter().map(Access::claim).collect::<Vec<_>>(),
        });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = self.cert.sign_rs256(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

async fn serve_token(State(issuer): State<Arc<Issuer>>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    issuer.requests.fetch_add(1, Ordering::SeqCst);
    let credentials =
        headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).and_then(basic_credentials);
    let subject = match credentials {
        Some((user, password)) if user == issuer.user && password == issuer.password => user,
        Some(_) => return unauthorized("wrong user name or password"),
        None => return unauthorized("anonymous access is refused: send HTTP Basic credentials"),
    };

    let mut access = Vec::new();
    let query = query.unwrap_or_default();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "service" if value != SERVICE => {
                return refusal(StatusCode::BAD_REQUEST, &format!("unknown service {value:?}"));
            }
            // One parameter may carry several scopes separated by spaces.
            "scope" => {
                for scope in value.split_whitespace() {
                    match Access::parse(scope) {
                        Some(parsed) => access.push(parsed),
                        None => return refusal(StatusCode::BAD_REQUEST, &format!("bad scope {scope:?}")),
                    }
                }
            }
            _ => {}
        }
    }

    let now = unix_now();
    let signer = Arc::clone(&issuer);
    let granted = access.clone();
    let token = match tokio::task::spawn_blocking(move || signer.mint(&subject, &granted, now)).await {
        Ok(token) => token,
        Err(e) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, &format!("signing failed: {e}")),
    };
    issuer.issued.fetch_add(1, Ordering::SeqCst);
    issuer
        .granted
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(access.iter().map(|a| format!("{}:{}:{}", a.kind, a.name, a.actions.join(","))));
    Json(json!({
        "token": token,
        "access_token": token,
        "expires_in": LIFETIME_SECS,
        "issued_at": rfc3339(now),
    }))
    .into_response()
}

/// The user and password of an `Authorization: Basic …` header.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn unauthorized(message: &str) -> Response {
    let mut response = refusal(StatusCode::UNAUTHORIZED, message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"layerize-test-token-issuer\""),
    );
    response
}

fn refusal(status: StatusCode, message: &str) -> Response {
    let code = match status {
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::BAD_REQUEST => "INVALID_REQUEST",
        _ => "UNKNOWN",
    };
    (status, Json(json!({ "errors": [{ "code": code, "message": message }] }))).into_response()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// `secs` after the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (days to civil date: H. Hinnant).
fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_split_at_first_and_last_colon() {
        let access = Access::parse("repository:fix/single:pull,push").expect("valid scope");
        assert_eq!(access.kind, "repository");
        assert_eq!(access.name, "fix/single");
        assert_eq!(access.actions, ["pull", "push"]);
        assert_eq!(Access::parse("registry:catalog:*").map(|a| a.actions), Some(vec!["*".to_owned()]));
        assert_eq!(Access::parse("repository:pull"), None);
    }

    #[test]
    fn basic_credentials_decode() {
        let header = format!("Basic {}", STANDARD.encode("alice:s3cr:et"));
        assert_eq!(basic_credentials(&header), Some(("alice".to_owned(), "s3cr:et".to_owned())));
        assert_eq!(basic_credentials("Bearer abc"), None);
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
