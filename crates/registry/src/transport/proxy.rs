//! The layerize proxy a browser reaches registries through, and what its word on a blob is
//! worth: a blob's digest is either computed where it is read or vouched for by the page's
//! own proxy, and [`BlobCheck`] says which.
//!
//! The page's own server hashes every whole blob download natively and ends the body with an
//! error instead of passing a blob that does not match; it says so in
//! [`super::PROXY_CHECKED_DIGEST`]. Believing it changes nothing (it also serves the code that
//! would check), so the page skips hashing in wasm. Any other proxy, and a registry reached
//! directly, could send that header about anything: there the bytes are hashed.

use layerize_core::Digest;
use serde::{Deserialize, Serialize};
use url::Url;

/// Where a browser's requests go, and whether that proxy's word on a blob counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proxy {
    /// The server that served this page: it checks whole blob downloads.
    PageOwn(Url),
    /// Another layerize server: it forwards, but its label on a blob is not believed.
    Other(Url),
}

impl Proxy {
    fn url(&self) -> &Url {
        match self {
            Proxy::PageOwn(url) | Proxy::Other(url) => url,
        }
    }

    /// Whether this proxy's [`super::PROXY_CHECKED_DIGEST`] label may be believed.
    pub fn vouching(&self) -> Vouching {
        match self {
            Proxy::PageOwn(_) => Vouching::Believed,
            Proxy::Other(_) => Vouching::NotBelieved,
        }
    }

    /// The proxy URL for a registry URL: `https://ghcr.io/v2/…?q` becomes
    /// `{proxy}/proxy/https/ghcr.io/v2/…?q`.
    pub fn proxied(&self, url: &Url) -> String {
        let mut authority = url.host_str().unwrap_or_default().to_owned();
        if let Some(port) = url.port() {
            authority.push_str(&format!(":{port}"));
        }
        let base = self.url().as_str().trim_end_matches('/');
        let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
        format!("{base}/proxy/{}/{authority}{}{query}", url.scheme(), url.path())
    }
}

/// Whether a download's "checked" label is believed; travels with a blob's location to the
/// worker that fetches it, so the worker need not guess from the URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Vouching {
    /// The location is on the page's own proxy.
    Believed,
    /// Anything else (another proxy, an object URL of a file): the bytes are hashed here.
    NotBelieved,
}

impl Vouching {
    /// Whether a download of blob `expected` whose response carried `label` in
    /// [`super::PROXY_CHECKED_DIGEST`] is checked already (so need not be hashed here).
    pub fn vouches(self, label: Option<&str>, expected: &Digest) -> bool {
        self == Vouching::Believed && label == Some(expected.as_str())
    }
}

/// How a blob that was read to its end was held to its digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobCheck {
    /// Every byte was hashed here; this is what they hash to.
    Computed(Digest),
    /// Not hashed here: the page's own proxy checked the whole download against this digest
    /// (and would have cut it short had it not matched).
    VouchedByProxy(Digest),
}

impl BlobCheck {
    /// The digest, computed or vouched for.
    pub fn digest(&self) -> &Digest {
        match self {
            BlobCheck::Computed(d) | BlobCheck::VouchedByProxy(d) => d,
        }
    }

    /// Whether the blob is the one with digest `expected`.
    pub fn confirms(&self, expected: &Digest) -> bool {
        self.digest() == expected
    }

    /// What was found, for a message about a blob that is not what it should be.
    pub fn describe(&self) -> String {
        match self {
            BlobCheck::Computed(d) => format!("its bytes hash to {d}"),
            BlobCheck::VouchedByProxy(d) => format!("the proxy checked it against {d}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn only_the_pages_own_proxy_is_believed() {
        let d = Digest::sha256(b"blob");
        let other = Digest::sha256(b"other");
        let own = Proxy::PageOwn(url("http://127.0.0.1:8080/")).vouching();
        let foreign = Proxy::Other(url("http://proxy.example/")).vouching();
        let cases = [
            (own, Some(d.as_str()), true),
            (own, Some(other.as_str()), false),
            (own, None, false),
            (foreign, Some(d.as_str()), false),
            (foreign, None, false),
            (Vouching::NotBelieved, Some(d.as_str()), false),
        ];
        for (vouching, label, want) in cases {
            assert_eq!(vouching.vouches(label, &d), want, "{vouching:?} {label:?}");
        }
    }

    #[test]
    fn a_check_says_how_it_was_made() {
        let d = Digest::sha256(b"blob");
        let other = Digest::sha256(b"other");
        assert!(BlobCheck::Computed(d.clone()).confirms(&d));
        assert!(!BlobCheck::Computed(other.clone()).confirms(&d));
        assert!(BlobCheck::VouchedByProxy(d.clone()).confirms(&d));
        assert!(!BlobCheck::VouchedByProxy(other.clone()).confirms(&d));
        assert!(BlobCheck::Computed(other.clone()).describe().contains("hash to"));
        assert!(BlobCheck::VouchedByProxy(other).describe().contains("proxy"));
    }

    #[test]
    fn a_check_survives_the_trip_to_the_page() {
        let check = BlobCheck::VouchedByProxy(Digest::sha256(b"blob"));
        let json = serde_json::to_string(&check).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(serde_json::from_str::<BlobCheck>(&json).unwrap_or_else(|e| panic!("{e}")), check);
    }

    #[test]
    fn registry_urls_map_onto_the_proxy() {
        let proxy = Proxy::PageOwn(url("http://127.0.0.1:8080/"));
        let cases = [
            (
                "https://ghcr.io/v2/a/b/blobs/sha256:x",
                "http://127.0.0.1:8080/proxy/https/ghcr.io/v2/a/b/blobs/sha256:x",
            ),
            ("http://127.0.0.1:5000/v2/?q=1&r=2", "http://127.0.0.1:8080/proxy/http/127.0.0.1:5000/v2/?q=1&r=2"),
        ];
        for (from, to) in cases {
            assert_eq!(proxy.proxied(&url(from)), to);
        }
    }
}
