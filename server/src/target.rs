//! What the proxy may reach: the `/v2/` API of allowlisted registries, the token realms those
//! registries name in their challenges, and (as redirect targets only) hosts that resolve to
//! public addresses alone. Everything else is refused before any connection is made.

mod address;
mod host;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};

use http::{HeaderMap, Method};
use layerize_registry::auth::Challenge;
use layerize_registry::redact;
use url::{Host, Url};

pub use address::{classify, AddressKind};
pub use host::{AllowedHost, AllowedHostError};

use crate::error::{Error, Refusal};

/// Public registries allowed without being listed. Their token realms (`auth.docker.io`, …) are
/// not here: they are learned from the registries' challenges.
pub const DEFAULT_REGISTRIES: [&str; 9] = [
    "registry-1.docker.io",
    "docker.io",
    "ghcr.io",
    "quay.io",
    "gcr.io",
    "registry.k8s.io",
    "public.ecr.aws",
    "mcr.microsoft.com",
    "registry.gitlab.com",
];

/// Realms remembered at most; a registry naming ever new realms cannot grow the set further.
const MAX_REALMS: usize = 256;

/// The allowlist and the realms learned so far. Cloning shares the learned realms.
#[derive(Clone, Debug)]
pub struct Targets {
    registries: Arc<[AllowedHost]>,
    realms: Arc<RwLock<BTreeSet<String>>>,
}

/// Which client may carry a request: listed hosts are reached wherever they resolve; any other
/// host only at public addresses (the client for it re-checks every address it connects to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    Listed,
    PublicOnly,
}

impl Targets {
    /// The [`DEFAULT_REGISTRIES`] and `extra` (from `--allow-registry`).
    pub fn new(extra: impl IntoIterator<Item = AllowedHost>) -> Targets {
        let defaults = DEFAULT_REGISTRIES.iter().map(|name| match name.parse() {
            Ok(host) => host,
            Err(e) => unreachable!("default registry {name}: {e}"),
        });
        Targets { registries: defaults.chain(extra).collect(), realms: Arc::default() }
    }

    /// Every allowed registry host, defaults first.
    pub fn registries(&self) -> &[AllowedHost] {
        &self.registries
    }

    fn is_listed(&self, url: &Url) -> bool {
        self.registries.iter().any(|allowed| allowed.matches(url))
    }

    fn is_realm(&self, url: &Url) -> bool {
        self.realms.read().unwrap_or_else(PoisonError::into_inner).contains(&realm_key(url))
    }

    /// Admits a request the page asked for: a registry's `/v2/` API, or a learned token realm
    /// with GET or POST.
    pub async fn admit(&self, method: &Method, url: &Url) -> Result<Reach, Error> {
        check_scheme(url)?;
        let listed = self.is_listed(url);
        let api = api_path(url);
        if listed && api.is_ok() {
            return Ok(Reach::Listed);
        }
        if self.is_realm(url) {
            if method != Method::GET && method != Method::POST {
                return Err(refused(url, Refusal::RealmMethod { method: method.to_string() }));
            }
            if listed {
                return Ok(Reach::Listed);
            }
            check_public(url).await?;
            return Ok(Reach::PublicOnly);
        }
        match api {
            Err(path) if listed => Err(refused(url, Refusal::OutsideV2 { path })),
            _ => Err(refused(url, Refusal::NotAllowed)),
        }
    }

    /// Admits the target of a redirect from an admitted upstream. A listed host is held to the
    /// rule of a first request ([`Targets::admit`]: its `/v2/` API or a learned realm), so a
    /// redirect cannot lead out of the API; any other host must resolve only to public addresses
    /// (blob downloads redirect to storage hosts, whose paths are their own).
    pub async fn admit_redirect(&self, method: &Method, url: &Url) -> Result<Reach, Error> {
        check_scheme(url)?;
        if self.is_listed(url) {
            return self.admit(method, url).await;
        }
        check_public(url).await?;
        Ok(Reach::PublicOnly)
    }

    /// Remembers the token realm of a `Bearer` challenge in `headers` of a response from `from`,
    /// if `from` is a listed registry and the realm is listed or resolves to public addresses.
    pub async fn learn_realm(&self, from: &Url, headers: &HeaderMap) {
        if !self.is_listed(from) {
            return;
        }
        for value in headers.get_all(http::header::WWW_AUTHENTICATE) {
            let Some(challenge) = value.to_str().ok().and_then(Challenge::parse) else {
                continue;
            };
            if challenge.scheme != "bearer" {
                continue;
            }
            let Some(realm) = challenge.param("realm").and_then(|realm| Url::parse(realm).ok()) else {
                continue;
            };
            if check_scheme(&realm).is_err() || !realm.username().is_empty() || realm.password().is_some() {
                continue;
            }
            if self.is_realm(&realm) {
                continue;
            }
            if !self.is_listed(&realm) {
                if let Err(e) = check_public(&realm).await {
                    tracing::info!(realm = %redact::url(&realm), "not remembering the token realm: {e}");
                    continue;
                }
            }
            let mut realms = self.realms.write().unwrap_or_else(PoisonError::into_inner);
            if realms.len() < MAX_REALMS {
                realms.insert(realm_key(&realm));
            }
        }
    }
}

/// Whether `url`'s path is in a registry's `/v2/` API, judged on the path as the registry will
/// read it: percent-decoded (so `..%2f` is `../`), with no `.` or `..` segment, no empty segment
/// before the last, no backslash or control character. The URL parser has already resolved
/// plain `..`; registries resolve (or redirect) the rest, so any of them is refused, not
/// normalised. The error is the decoded path, to show.
fn api_path(url: &Url) -> Result<(), String> {
    let raw = url.path();
    let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    let segments: Vec<&str> = decoded.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let clean = segments
        .iter()
        .enumerate()
        .all(|(i, segment)| *segment != "." && *segment != ".." && (i == last || !segment.is_empty()))
        && !decoded.contains(|c: char| c == '\\' || c.is_control() || c == char::REPLACEMENT_CHARACTER);
    if clean && decoded.starts_with("/v2/") {
        Ok(())
    } else {
        Err(decoded.into_owned())
    }
}

/// A realm is remembered by scheme, host, port and path; its query (service, scope) varies.
fn realm_key(url: &Url) -> String {
    let port = url.port_or_known_default().unwrap_or_default();
    format!("{}://{}:{port}{}", url.scheme(), url.host_str().unwrap_or_default(), url.path())
}

fn check_scheme(url: &Url) -> Result<(), Error> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        other => Err(refused(url, Refusal::Scheme { scheme: other.to_owned() })),
    }
}

/// Refuses `url` unless its host is an IP literal of a public address or a name that resolves
/// only to public addresses.
async fn check_public(url: &Url) -> Result<(), Error> {
    let port = url.port_or_known_default().unwrap_or_default();
    let addresses: Vec<IpAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        Some(Host::Domain(name)) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|source| Error::Resolve { host: name.to_owned(), source })?
            .map(|addr| addr.ip())
            .collect(),
        None => return Err(refused(url, Refusal::NotAllowed)),
    };
    for ip in addresses {
        let kind = classify(ip);
        if !kind.is_public() {
            return Err(refused(url, Refusal::Address { ip, kind }));
        }
    }
    Ok(())
}

/// `host:port` of `url`, the form `--allow-registry` takes.
pub fn authority(url: &Url) -> String {
    match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
}

fn refused(url: &Url, reason: Refusal) -> Error {
    Error::Refused { authority: authority(url), url: redact::url(url), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn targets(extra: &[&str]) -> Targets {
        Targets::new(extra.iter().map(|s| s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))))
    }

    fn reason(result: Result<Reach, Error>) -> Refusal {
        match result {
            Err(Error::Refused { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn registries_are_admitted_for_v2_only() {
        let targets = targets(&["127.0.0.1:5000"]);
        assert_eq!(targets.admit(&Method::GET, &url("https://ghcr.io/v2/")).await.ok(), Some(Reach::Listed));
        assert_eq!(
            targets.admit(&Method::PUT, &url("http://127.0.0.1:5000/v2/a/manifests/t")).await.ok(),
            Some(Reach::Listed)
        );
        assert_eq!(
            reason(targets.admit(&Method::GET, &url("https://ghcr.io/token")).await),
            Refusal::OutsideV2 { path: "/token".to_owned() }
        );
        assert_eq!(
            reason(targets.admit(&Method::GET, &url("https://ghcr.io/v2")).await),
            Refusal::OutsideV2 { path: "/v2".to_owned() }
        );
        assert_eq!(reason(targets.admit(&Method::GET, &url("http://127.0.0.1:5001/v2/")).await), Refusal::NotAllowed);
        assert_eq!(
            reason(targets.admit(&Method::GET, &url("ftp://ghcr.io/v2/")).await),
            Refusal::Scheme { scheme: "ftp".to_owned() }
        );
    }

    #[tokio::test]
    async fn the_v2_rule_is_decided_on_the_decoded_path() {
        let targets = targets(&["127.0.0.1:5000"]);
        for path in [
            "/v2/..%2f..%2fdebug/vars",
            "/v2/%2e%2e/%2e%2e/debug",
            "/v2/a/..%2F..%2F..%2Fmetrics",
            "/v2/a%2f%2e%2e%2f%2e%2e%2fdebug",
            "/v2/a//b",
            "/v2/a/%5c..%5cdebug",
            "/v2/a/%00",
            "/v2/.%2fa",
            "/v2%2f..%2fdebug",
        ] {
            let target = url(&format!("http://127.0.0.1:5000{path}"));
            assert!(
                matches!(reason(targets.admit(&Method::GET, &target).await), Refusal::OutsideV2 { .. }),
                "{path} ({}) must be refused",
                target.path()
            );
        }
        for path in ["/v2/", "/v2/a/b/manifests/1", "/v2/a/blobs/uploads/", "/v2/a%2fb/tags/list"] {
            let target = url(&format!("http://127.0.0.1:5000{path}"));
            assert_eq!(targets.admit(&Method::GET, &target).await.ok(), Some(Reach::Listed), "{path}");
        }
    }

    #[tokio::test]
    async fn a_redirect_to_a_listed_host_stays_in_its_api() {
        let targets = targets(&["127.0.0.1:5000", "127.0.0.1:5001"]);
        for to in
            ["http://127.0.0.1:5001/debug/vars", "http://127.0.0.1:5000/metrics", "http://127.0.0.1:5001/v2/..%2fx"]
        {
            assert!(
                matches!(reason(targets.admit_redirect(&Method::GET, &url(to)).await), Refusal::OutsideV2 { .. }),
                "{to}"
            );
        }
        assert_eq!(
            targets.admit_redirect(&Method::GET, &url("http://127.0.0.1:5001/v2/a/blobs/sha256:1")).await.ok(),
            Some(Reach::Listed)
        );
    }

    #[tokio::test]
    async fn realms_are_learned_from_listed_registries_only() {
        let targets = targets(&["127.0.0.1:5000", "127.0.0.1:5001"]);
        let mut challenge = HeaderMap::new();
        challenge.insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static(
                r#"Bearer realm="http://127.0.0.1:5001/token",service="reg",scope="repository:a:pull""#,
            ),
        );
        let realm = url("http://127.0.0.1:5001/token?service=reg&scope=repository:a:pull");
        assert_eq!(reason(targets.admit(&Method::GET, &realm).await), Refusal::OutsideV2 { path: "/token".to_owned() });

        // Not from a listed registry: ignored.
        targets.learn_realm(&url("http://127.0.0.1:6000/v2/"), &challenge).await;
        assert!(targets.admit(&Method::GET, &realm).await.is_err());

        targets.learn_realm(&url("http://127.0.0.1:5000/v2/"), &challenge).await;
        assert_eq!(targets.admit(&Method::GET, &realm).await.ok(), Some(Reach::Listed));
        assert_eq!(targets.admit(&Method::POST, &realm).await.ok(), Some(Reach::Listed));
        assert_eq!(
            reason(targets.admit(&Method::PUT, &realm).await),
            Refusal::RealmMethod { method: "PUT".to_owned() }
        );
        // The exact path only.
        assert!(targets.admit(&Method::GET, &url("http://127.0.0.1:5001/token2")).await.is_err());
    }

    #[tokio::test]
    async fn a_realm_on_an_unlisted_private_host_is_not_learned() {
        let targets = targets(&["127.0.0.1:5000"]);
        let mut challenge = HeaderMap::new();
        for realm in ["http://127.0.0.1:5001/token", "http://10.0.0.1/token", "http://[::1]:5001/token"] {
            let value = format!(r#"Bearer realm="{realm}",service="reg""#);
            challenge.insert(http::header::WWW_AUTHENTICATE, value.parse().unwrap_or_else(|e| panic!("{e}")));
            targets.learn_realm(&url("http://127.0.0.1:5000/v2/"), &challenge).await;
            assert_eq!(reason(targets.admit(&Method::GET, &url(realm)).await), Refusal::NotAllowed, "{realm}");
        }
    }

    #[tokio::test]
    async fn redirects_to_unlisted_non_public_addresses_are_refused() {
        let targets = targets(&["127.0.0.1:5000"]);
        assert_eq!(
            targets.admit_redirect(&Method::GET, &url("http://127.0.0.1:5000/v2/a/blobs/b")).await.ok(),
            Some(Reach::Listed)
        );
        for target in [
            "http://127.0.0.1:5001/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::ffff:10.0.0.1]/x",
            "http://0x7f.1/x",
        ] {
            assert!(
                matches!(reason(targets.admit_redirect(&Method::GET, &url(target)).await), Refusal::Address { .. }),
                "{target}"
            );
        }
        assert_eq!(
            targets.admit_redirect(&Method::GET, &url("https://93.184.215.14/blob")).await.ok(),
            Some(Reach::PublicOnly)
        );
    }
}
