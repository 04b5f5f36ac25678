//! One allowlist entry, `HOST[:PORT]` as given to `--allow-registry`, normalised the way URLs
//! are (lowercase names, canonical IP literals) so that comparing it with a URL is exact.

use std::fmt;
use std::str::FromStr;

use url::{Host, Url};

/// A host the operator allows, optionally on one port. Without a port it stands for the default
/// port of the URL's scheme (443 for https, 80 for http), as a registry name does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    host: Host<String>,
    port: Option<u16>,
}

/// Why a `HOST[:PORT]` was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllowedHostError {
    #[error("{0:?} is not HOST[:PORT] (no scheme, user, path or query)")]
    NotAnAuthority(String),
    #[error("{0:?} has a bad host: {1}")]
    BadHost(String, url::ParseError),
}

impl AllowedHost {
    /// Whether `url` is on this host (and port).
    pub fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host() else { return false };
        if host.to_owned() != self.host {
            return false;
        }
        match self.port {
            Some(port) => url.port_or_known_default() == Some(port),
            // `Url::port` is `None` exactly when the URL uses its scheme's default port.
            None => url.port().is_none(),
        }
    }
}

impl FromStr for AllowedHost {
    type Err = AllowedHostError;

    fn from_str(s: &str) -> Result<AllowedHost, AllowedHostError> {
        let not_authority = || AllowedHostError::NotAnAuthority(s.to_owned());
        // `http::uri::Authority` keeps the port as written (a URL parser would drop `:80`) but
        // accepts user info, which an allowlist entry must not carry.
        let authority: http::uri::Authority = s.parse().map_err(|_| not_authority())?;
        // `Authority` takes any text after the colon as a port; ours must be a number.
        let has_port = authority.as_str().len() > authority.host().len();
        if s.contains('@') || authority.host().is_empty() || (has_port && authority.port_u16().is_none()) {
            return Err(not_authority());
        }
        let host = Host::parse(authority.host()).map_err(|e| AllowedHostError::BadHost(s.to_owned(), e))?;
        Ok(AllowedHost { host, port: authority.port_u16() })
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn allowed(s: &str) -> AllowedHost {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(allowed("GHCR.io").to_string(), "ghcr.io");
        assert_eq!(allowed("127.0.0.1:5000").to_string(), "127.0.0.1:5000");
        assert_eq!(allowed("[::1]:5000").to_string(), "[::1]:5000");
        assert_eq!(allowed("[0:0::1]").to_string(), "[::1]");
        assert_eq!(allowed("registry.local:80").to_string(), "registry.local:80");
    }

    #[test]
    fn refuses_what_is_not_an_authority() {
        for bad in ["", "https://ghcr.io", "ghcr.io/v2", "user:pw@ghcr.io", "ghcr.io:port", "ghcr.io:", "ghcr.io?q"] {
            assert!(matches!(bad.parse::<AllowedHost>(), Err(AllowedHostError::NotAnAuthority(_))), "{bad:?}");
        }
        assert!(matches!("[::1".parse::<AllowedHost>(), Err(AllowedHostError::NotAnAuthority(_))));
    }

    #[test]
    fn matches_host_and_port() {
        let ghcr = allowed("ghcr.io");
        assert!(ghcr.matches(&url("https://ghcr.io/v2/")));
        assert!(ghcr.matches(&url("https://GHCR.IO:443/v2/")));
        assert!(ghcr.matches(&url("http://ghcr.io/v2/")));
        assert!(!ghcr.matches(&url("https://ghcr.io:8443/v2/")));
        assert!(!ghcr.matches(&url("https://ghcr.io.evil.example/v2/")));

        let local = allowed("127.0.0.1:5000");
        assert!(local.matches(&url("http://127.0.0.1:5000/v2/")));
        assert!(!local.matches(&url("http://127.0.0.1:5001/v2/")));
        assert!(!local.matches(&url("http://127.0.0.1/v2/")));

        let v6 = allowed("[::1]:5000");
        assert!(v6.matches(&url("http://[0::1]:5000/v2/")));
    }
}
