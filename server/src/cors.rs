//! Cross-origin access for a page served elsewhere (by `trunk serve` while developing): only the
//! origins given with `--cors-origin`, only the protocol's methods and headers.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use axum::http::{HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};
use url::Url;

use crate::headers;

/// How long a browser may cache a preflight answer.
const MAX_AGE: Duration = Duration::from_secs(600);

/// An origin allowed to call the server: `http[s]://host[:port]`, serialised as browsers send it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorsOrigin(HeaderValue);

/// Why an origin was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CorsOriginError {
    #[error("{0:?} is not a URL: {1}")]
    NotUrl(String, url::ParseError),
    #[error("{0:?} is not an origin: give scheme://host[:port], without user, path or query")]
    NotOrigin(String),
}

impl FromStr for CorsOrigin {
    type Err = CorsOriginError;

    fn from_str(s: &str) -> Result<CorsOrigin, CorsOriginError> {
        let url = Url::parse(s).map_err(|e| CorsOriginError::NotUrl(s.to_owned(), e))?;
        let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
        let plain = url.username().is_empty() && url.password().is_none();
        if !(matches!(url.scheme(), "http" | "https") && bare && plain) {
            return Err(CorsOriginError::NotOrigin(s.to_owned()));
        }
        let origin = url.origin().ascii_serialization();
        HeaderValue::from_str(&origin).map(CorsOrigin).map_err(|_| CorsOriginError::NotOrigin(s.to_owned()))
    }
}

impl fmt::Display for CorsOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.to_str().unwrap_or_default())
    }
}

/// The CORS layer for `origins`; with none, preflights are answered without any allowance.
pub fn layer(origins: &[CorsOrigin]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().map(|origin| origin.0.clone())))
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(headers::REQUEST)
        .expose_headers(
            headers::RESPONSE
                .into_iter()
                .chain([http::HeaderName::from_static(crate::blob_check::CHECKED)])
                .collect::<Vec<_>>(),
        )
        .max_age(MAX_AGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_to_their_serialisation() {
        let origin: CorsOrigin = "http://127.0.0.1:8081".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(origin.to_string(), "http://127.0.0.1:8081");
        let origin: CorsOrigin = "HTTPS://Example.COM:443/".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(origin.to_string(), "https://example.com");
        for bad in ["http://a.example/page", "http://u@a.example", "ftp://a.example", "http://a.example/?q"] {
            assert!(matches!(bad.parse::<CorsOrigin>(), Err(CorsOriginError::NotOrigin(_))), "{bad}");
        }
        assert!(matches!("a.example".parse::<CorsOrigin>(), Err(CorsOriginError::NotUrl(..))));
    }
}
