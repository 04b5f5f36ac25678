//! A client for one registry: builds URLs, sends through the transport, and runs the auth
//! dance (ping, challenge, token, retry once on 401).

use std::cell::RefCell;

use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use serde::Deserialize;
use url::Url;

use crate::auth::{AuthState, Challenge, Credentials, Scope};
use crate::error::Error;
use crate::redact;
use crate::transport::{Request, Response, Transport, UploadStream};

/// HTTP or HTTPS. Docker speaks plain HTTP to loopback registries and to those the user
/// marks insecure; everything else is HTTPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn for_reference(reference: &layerize_core::Reference, insecure: bool) -> Scheme {
        if insecure || reference.is_loopback() {
            Scheme::Http
        } else {
            Scheme::Https
        }
    }
}

/// Talks to one registry. Methods take `&self`; the auth state lives in a `RefCell` because
/// the client is used from one task (no `Send` needed) but by several requests at once.
pub struct Client<T: Transport> {
    transport: T,
    base: Url,
    registry: String,
    credentials: Option<Credentials>,
    auth: RefCell<AuthState>,
    /// Where unfinished uploads are remembered across runs, if anywhere.
    journal: Option<Box<dyn crate::push::UploadJournal>>,
    /// Bytes per PATCH of a chunked upload: [`crate::CHUNK_SIZE`], or more if the registry asks.
    pub(crate) chunk_size: std::cell::Cell<usize>,
}

impl<T: Transport> std::fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("registry", &self.registry).field("credentials", &self.credentials).finish()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl<T: Transport> Client<T> {
    /// A client for `registry` (`host[:port]`, as the API is reached: `registry-1.docker.io`
    /// for Docker Hub).
    pub fn new(
        transport: T,
        registry: &str,
        scheme: Scheme,
        credentials: Option<Credentials>,
    ) -> Result<Client<T>, Error> {
        let s = match scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        let base = Url::parse(&format!("{s}://{registry}/")).map_err(|e| Error::Protocol {
            registry: registry.to_owned(),
            message: format!("not a usable host: {e}"),
        })?;
        Ok(Client {
            transport,
            base,
            registry: registry.to_owned(),
            credentials,
            auth: RefCell::new(AuthState::default()),
            journal: None,
            chunk_size: std::cell::Cell::new(crate::CHUNK_SIZE),
        })
    }

    /// A client for a different base URL, e.g. the page's proxy in front of the registry.
    pub fn with_base_url(transport: T, registry: &str, base: Url, credentials: Option<Credentials>) -> Client<T> {
        Client {
            transport,
            base,
            registry: registry.to_owned(),
            credentials,
            auth: RefCell::new(AuthState::default()),
            journal: None,
            chunk_size: std::cell::Cell::new(crate::CHUNK_SIZE),
        }
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub(crate) fn url(&self, path: &str) -> Result<Url, Error> {
        self.base.join(path).map_err(|e| Error::Protocol {
            registry: self.registry.clone(),
            message: format!("bad path {path:?}: {e}"),
        })
    }

    /// `GET /v2/`: learns how the registry wants to be authenticated. Called once, before
    /// the first request, so that request already carries credentials.
    pub async fn ping(&self) -> Result<(), Error> {
        let url = self.url("v2/")?;
        let response = self.transport.send(Request::new(Method::GET, url)).await?;
        self.auth.borrow_mut().pinged = true;
        match response.status {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => {
                self.auth.borrow_mut().challenge = response.header("www-authenticate").and_then(Challenge::parse);
                Ok(())
            }
            _ => Err(self.fail(response, "the API version check (GET /v2/)").await),
        }
    }

    /// Sends `request` with whatever authorization `scopes` need, fetching a token or
    /// switching to basic auth on a 401 and trying once more.
    pub(crate) async fn send(&self, request: Request, scopes: &[Scope], action: &str) -> Result<Response, Error> {
        if !self.auth.borrow().pinged {
            self.ping().await?;
        }
        if self.needs_token(scopes) {
            self.fetch_token(scopes, action).await?;
        }
        let response = self.send_once(request.clone(), scopes).await?;
        if response.status != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        // The registry may want a different scheme or scope than the ping suggested.
        let challenge = response.header("www-authenticate").and_then(Challenge::parse);
        let had_auth = {
            let mut auth = self.auth.borrow_mut();
            let had = auth.header(self.credentials.as_ref(), scopes).is_some();
            auth.drop_token(scopes);
            if challenge.is_some() {
                auth.challenge = challenge.clone();
            }
            had
        };
        match challenge.as_ref().map(|c| c.scheme.as_str()) {
            Some("bearer") if !matches!(self.credentials, Some(Credentials::Bearer { .. })) => {
                let mut wanted = scopes.to_vec();
                if let Some(extra) = challenge.as_ref().and_then(|c| c.param("scope")) {
                    wanted.extend(extra.split(' ').map(Scope::raw));
                }
                self.fetch_token(&wanted, action).await?;
                let token = self.auth.borrow().token(&wanted).map(str::to_owned);
                if let Some(token) = token {
                    self.auth.borrow_mut().store_token(scopes, token);
                }
            }
            Some("basic") if !had_auth && self.credentials.is_some() => {}
            _ => return Err(self.unauthorized(action)),
        }
        let retry = self.send_once(request, scopes).await?;
        if retry.status == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized(action));
        }
        Ok(retry)
    }

    async fn send_once(&self, mut request: Request, scopes: &[Scope]) -> Result<Response, Error> {
        self.authorize(&mut request, scopes)?;
        self.transport.send(request).await
    }

    /// Sends `request` with a streamed body, authorized as [`Client::send`] would. The body
    /// cannot be sent again, so a 401 is an error rather than a retry; callers authorize the
    /// same scopes with an earlier request (the upload's POST), so the token is at hand.
    pub(crate) async fn send_stream<'a>(
        &'a self,
        mut request: Request,
        body: UploadStream<'a>,
        scopes: &[Scope],
        action: &str,
    ) -> Result<Response, Error> {
        if !self.auth.borrow().pinged {
            self.ping().await?;
        }
        if self.needs_token(scopes) {
            self.fetch_token(scopes, action).await?;
        }
        self.authorize(&mut request, scopes)?;
        let response = self.transport.send_stream(request, body).await?;
        if response.status == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized(action));
        }
        Ok(response)
    }

    /// Remembers unfinished uploads in `journal`, so a later run continues them.
    pub fn with_journal(mut self, journal: Box<dyn crate::push::UploadJournal>) -> Client<T> {
        self.journal = Some(journal);
        self
    }

    pub(crate) fn journal(&self) -> Option<&dyn crate::push::UploadJournal> {
        self.journal.as_deref()
    }

    /// Tries of a broken transfer, and the pause between them (the transport's).
    pub(crate) fn tries(&self) -> u32 {
        self.transport.tries()
    }

    pub(crate) async fn pause(&self, tries: u32) {
        self.transport.pause(tries).await
    }

    pub(crate) fn note_retry(&self, attempt: u32, reason: String) {
        self.transport.note_retry(&crate::transport::Retry { registry: self.registry.clone(), attempt, reason });
    }

    pub(crate) fn streams_uploads(&self) -> bool {
        self.transport.streams_uploads()
    }

    pub(crate) fn proxy_checks_blobs(&self) -> bool {
        self.transport.proxy_checks_blobs()
    }

    /// The Authorization header value this client would send for `scopes`, if any.
    pub(crate) fn authorization(&self, scopes: &[Scope]) -> Option<String> {
        self.auth.borrow().header(self.credentials.as_ref(), scopes)
    }

    /// Puts this registry's credentials or token on `request`, if it goes to this registry.
    /// A URL the registry handed out (an upload `Location`, a mount's answer) may name another
    /// host, port or scheme: the bytes go there, the credentials never do.
    fn authorize(&self, request: &mut Request, scopes: &[Scope]) -> Result<(), Error> {
        request.headers.remove(header::AUTHORIZATION);
        if request.url.origin() != self.base.origin() {
            return Ok(());
        }
        let header_value = self.auth.borrow().header(self.credentials.as_ref(), scopes);
        if let Some(value) = header_value {
            let mut value = HeaderValue::from_str(&value).map_err(|_| Error::Protocol {
                registry: self.registry.clone(),
                message: "credentials contain invalid characters".into(),
            })?;
            value.set_sensitive(true);
            request.headers.insert(header::AUTHORIZATION, value);
        }
        Ok(())
    }

    fn needs_token(&self, scopes: &[Scope]) -> bool {
        let auth = self.auth.borrow();
        auth.challenge.as_ref().is_some_and(|c| c.scheme == "bearer")
            && !matches!(self.credentials, Some(Credentials::Bearer { .. }))
            && auth.token(scopes).is_none()
    }

    /// Asks the challenge's realm for a token covering `scopes`.
    async fn fetch_token(&self, scopes: &[Scope], action: &str) -> Result<(), Error> {
        let challenge = self.auth.borrow().challenge.clone();
        let Some(challenge) = challenge else { return Ok(()) };
        let realm = challenge.param("realm").ok_or_else(|| Error::Protocol {
            registry: self.registry.clone(),
            message: "bearer challenge without a realm".into(),
        })?;
        let mut url = Url::parse(realm).map_err(|e| Error::Protocol {
            registry: self.registry.clone(),
            message: format!("its token realm is not a URL ({e})"),
        })?;
        // The realm gets the user's password (Docker's token flow): only over HTTP(S), and
        // over plain HTTP only when the registry itself is spoken to that way.
        let plain_ok = self.base.scheme() == "http";
        if !(url.scheme() == "https" || (url.scheme() == "http" && plain_ok)) {
            return Err(Error::Protocol {
                registry: self.registry.clone(),
                message: format!(
                    "its token realm {} is not {}; refusing to send credentials there",
                    redact::url(&url),
                    if plain_ok { "an http or https URL" } else { "an https URL" }
                ),
            });
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = challenge.param("service") {
                q.append_pair("service", service);
            }
            let mut sorted = scopes.to_vec();
            sorted.sort();
            sorted.dedup();
            for scope in &sorted {
                q.append_pair("scope", scope.as_str());
            }
        }
        let mut request = Request::new(Method::GET, url.clone());
        if let Some(basic) = self.credentials.as_ref().and_then(Credentials::basic_header) {
            let mut value = HeaderValue::from_str(&basic).map_err(|_| Error::Protocol {
                registry: self.registry.clone(),
                message: "credentials contain invalid characters".into(),
            })?;
            value.set_sensitive(true);
            request.headers.insert(header::AUTHORIZATION, value);
        }
        let response = self.transport.send(request).await?;
        match response.status {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED => return Err(self.unauthorized(action)),
            _ => return Err(self.fail(response, &format!("a token request to {}", redact::url(&url))).await),
        }
        let registry = self.registry.clone();
        let body = response
            .bytes(1 << 20, || Error::TooLarge {
                registry: registry.clone(),
                what: "token response".into(),
                limit: 1 << 20,
            })
            .await?;
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| Error::Protocol {
            registry: self.registry.clone(),
            message: format!("token response is not JSON: {e}"),
        })?;
        let token = parsed.token.or(parsed.access_token).filter(|t| !t.is_empty()).ok_or_else(|| Error::Protocol {
            registry: self.registry.clone(),
            message: "token response has no token".into(),
        })?;
        self.auth.borrow_mut().store_token(scopes, token);
        Ok(())
    }

    fn unauthorized(&self, action: &str) -> Error {
        let hint = match &self.credentials {
            None => "this needs credentials; log in or pass --username and --password-stdin",
            Some(Credentials::Basic { .. }) => "wrong username or password, or no access to this repository",
            Some(Credentials::Bearer { .. }) => "the token is invalid, expired, or lacks access to this repository",
        };
        Error::Unauthorized { registry: self.registry.clone(), action: action.to_owned(), hint: hint.to_owned() }
    }

    /// Turns an unexpected status into an error carrying the registry's own message.
    pub(crate) async fn fail(&self, response: Response, action: &str) -> Error {
        let status = response.status;
        let url = redact::url(&response.url);
        let body =
            response.bytes(64 << 10, || Error::Protocol { registry: String::new(), message: String::new() }).await;
        let message = body.ok().and_then(|b| registry_message(&b));
        if status == StatusCode::NOT_FOUND {
            return Error::NotFound { registry: self.registry.clone(), what: action.to_owned(), detail: message };
        }
        // A 403 with its own words (the page's proxy refusing a host) is shown as it is.
        if status == StatusCode::UNAUTHORIZED
            || (status == StatusCode::FORBIDDEN && message.as_deref().is_none_or(|m| m.starts_with("DENIED")))
        {
            return self.unauthorized(action);
        }
        Error::Registry {
            registry: self.registry.clone(),
            action: action.to_owned(),
            url,
            status: status.as_u16(),
            message,
        }
    }

    pub(crate) async fn read_document(&self, response: Response, what: &str) -> Result<Bytes, Error> {
        let registry = self.registry.clone();
        let limit = crate::MAX_DOCUMENT_SIZE;
        response.bytes(limit, || Error::TooLarge { registry, what: what.to_owned(), limit }).await
    }
}

/// `CODE: message` from a distribution error body, if it is one.
/// Falls back to a short plain-text body (the page's proxy explains refusals that way).
fn registry_message(body: &[u8]) -> Option<String> {
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        let parts: Vec<String> = parsed.errors.iter().map(|e| format!("{}: {}", e.code, e.message)).collect();
        return (!parts.is_empty()).then(|| parts.join("; "));
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    let first = text.lines().next()?.trim();
    (!first.is_empty() && first.len() <= 300 && !first.starts_with('<')).then(|| first.to_owned())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use futures_util::stream;
    use http::HeaderMap;

    use super::*;
    use crate::transport::BodyStream;

    /// A registry whose challenge names `realm`; records every URL asked for.
    struct Realm {
        realm: &'static str,
        seen: RefCell<Vec<String>>,
    }

    impl Transport for Realm {
        async fn send(&self, request: Request) -> Result<Response, Error> {
            self.seen.borrow_mut().push(request.url.to_string());
            let mut headers = HeaderMap::new();
            let challenge = format!("Bearer realm=\"{}\",service=\"r\"", self.realm);
            headers.insert("www-authenticate", HeaderValue::from_str(&challenge).unwrap_or_else(|e| panic!("{e}")));
            let body: BodyStream = Box::pin(stream::empty());
            Ok(Response { status: StatusCode::UNAUTHORIZED, headers, url: request.url, body })
        }
    }

    fn manifest_error(base: &str, realm: &'static str) -> (String, Vec<String>) {
        let transport = Realm { realm, seen: RefCell::default() };
        let credentials = Credentials::Basic { username: "u".into(), password: "secret".into() };
        let base = Url::parse(base).unwrap_or_else(|e| panic!("{e}"));
        let client = Client::with_base_url(&transport, "r.example:5000", base, Some(credentials));
        let result = crate::pull::tests::futures_executor(client.manifest("repo", "1"));
        let e = result.err().unwrap_or_else(|| panic!("a manifest behind realm {realm}"));
        (e.to_string(), transport.seen.take())
    }

    #[test]
    fn a_realm_that_is_not_http_gets_no_credentials_and_names_the_registry() {
        for (base, realm) in [
            ("https://r.example:5000/", "file:///etc/passwd"),
            ("https://r.example:5000/", "http://auth.example/token"),
            ("http://r.example:5000/", "ftp://auth.example/token"),
        ] {
            let (e, seen) = manifest_error(base, realm);
            assert!(e.starts_with("registry r.example:5000: its token realm"), "{realm}: {e}");
            assert!(e.contains("refusing to send credentials"), "{realm}: {e}");
            assert!(seen.iter().all(|url| url.starts_with(base)), "{realm}: the realm was asked: {seen:?}");
        }
    }
}
