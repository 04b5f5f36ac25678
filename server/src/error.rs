//! The server's one error type, answered as a short plain-text body (which the page's registry
//! client shows as it is): 400 for a malformed proxy address, 403 for a target the proxy refuses,
//! 502 when the upstream cannot be reached. URLs in it are already redacted.

use std::fmt;
use std::net::IpAddr;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::target::AddressKind;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path} is not a proxy address: {reason}; expected /proxy/{{http|https}}/{{host[:port]}}/{{path}}")]
    BadTarget { path: String, reason: String },
    #[error("the proxy refuses to reach {authority} ({url}): {reason}{}", reason.hint(authority))]
    Refused { authority: String, url: String, reason: Refusal },
    #[error("cannot resolve {host}: {source}")]
    Resolve { host: String, source: std::io::Error },
    #[error("{method} {url} failed: {cause}")]
    Upstream { method: String, url: String, cause: String },
    #[error("{url} redirected more than {limit} times")]
    TooManyRedirects { url: String, limit: usize },
    #[error("{url} answered a redirect without a usable Location")]
    BadRedirect { url: String },
    #[error("cannot set up the upstream HTTP client: {0}")]
    Client(String),
}

/// Why a target is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Neither an allowed registry nor a token realm one of them named.
    NotAllowed,
    /// An allowed registry, but not its `/v2/` API.
    OutsideV2 {
        path: String,
    },
    /// Token realms take GET and POST only.
    RealmMethod {
        method: String,
    },
    /// An unlisted host at an address that is not public.
    Address {
        ip: IpAddr,
        kind: AddressKind,
    },
    Scheme {
        scheme: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotAllowed => write!(f, "it is not an allowed registry or a token realm one named"),
            Refusal::OutsideV2 { path } => {
                write!(f, "only the /v2/ API of a registry is proxied, not {path}")
            }
            Refusal::RealmMethod { method } => {
                write!(f, "a token realm takes GET and POST, not {method}")
            }
            Refusal::Address { ip, kind } => write!(f, "it is not listed, and its address {ip} is not public ({kind})"),
            Refusal::Scheme { scheme } => {
                write!(f, "only http and https are proxied, not {scheme}")
            }
        }
    }
}

impl Refusal {
    /// How to allow the target, for the refusals an operator can lift.
    fn hint(&self, authority: &str) -> String {
        match self {
            Refusal::NotAllowed | Refusal::Address { .. } => {
                format!("; to allow it, start layerize-server with --allow-registry {authority}")
            }
            _ => String::new(),
        }
    }
}

impl Error {
    /// An upstream failure; `source` is shown with its causes but without its URL (which may
    /// carry upload state in its query).
    pub fn upstream(method: &http::Method, url: &url::Url, source: reqwest::Error) -> Error {
        let source = source.without_url();
        let mut cause = source.to_string();
        let mut next = std::error::Error::source(&source);
        while let Some(inner) = next {
            cause.push_str(": ");
            cause.push_str(&inner.to_string());
            next = inner.source();
        }
        Error::Upstream { method: method.to_string(), url: layerize_registry::redact::url(url), cause }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadTarget { .. } => StatusCode::BAD_REQUEST,
            Error::Refused { .. } => StatusCode::FORBIDDEN,
            Error::Resolve { .. }
            | Error::Upstream { .. }
            | Error::TooManyRedirects { .. }
            | Error::BadRedirect { .. } => StatusCode::BAD_GATEWAY,
            Error::Client(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (self.status(), [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{self}\n")).into_response()
    }
}
