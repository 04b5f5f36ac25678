//! Which headers cross the proxy: the few the distribution protocol needs, each way. Cookies,
//! the browser's own headers and hop-by-hop headers stay on their side.

use http::header::{self, HeaderMap, HeaderName};

/// Request headers forwarded upstream (and allowed in CORS requests).
pub const REQUEST: [HeaderName; 6] = [
    header::AUTHORIZATION,
    header::ACCEPT,
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_RANGE,
    header::RANGE,
];

/// Response headers passed back to the page (and exposed to it by CORS).
pub const RESPONSE: [HeaderName; 11] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_RANGE,
    HeaderName::from_static("docker-content-digest"),
    HeaderName::from_static("docker-upload-uuid"),
    // Kept as the upstream sent it: the page maps absolute upstream URLs back onto the proxy.
    header::LOCATION,
    header::RANGE,
    // Renamed on the way (see `rename_challenge`); exposed under its new name.
    HeaderName::from_static(layerize_registry::transport::PROXIED_CHALLENGE),
    HeaderName::from_static("docker-distribution-api-version"),
    HeaderName::from_static("oci-chunk-min-length"),
    header::ETAG,
];

/// Copies the upstream `WWW-Authenticate` values into `into` under
/// [`layerize_registry::transport::PROXIED_CHALLENGE`]: a browser that sees a `Basic`
/// challenge on a fetch shows its own login prompt instead of letting the page answer it.
pub fn carry_challenge(upstream: &HeaderMap, into: &mut HeaderMap) {
    let name = HeaderName::from_static(layerize_registry::transport::PROXIED_CHALLENGE);
    for value in upstream.get_all(header::WWW_AUTHENTICATE) {
        into.append(name.clone(), value.clone());
    }
}

/// The headers of `from` named in `allowed`, every value of each.
pub fn filter(from: &HeaderMap, allowed: &[HeaderName]) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for name in allowed {
        for value in from.get_all(name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_allowed_headers_with_all_values() {
        let mut from = HeaderMap::new();
        from.insert(header::COOKIE, "session=1".parse().unwrap_or_else(|e| panic!("{e}")));
        from.insert(header::AUTHORIZATION, "Bearer t".parse().unwrap_or_else(|e| panic!("{e}")));
        from.append(header::ACCEPT, "a/b".parse().unwrap_or_else(|e| panic!("{e}")));
        from.append(header::ACCEPT, "c/d".parse().unwrap_or_else(|e| panic!("{e}")));
        let kept = filter(&from, &REQUEST);
        assert!(kept.get(header::COOKIE).is_none());
        assert_eq!(kept.get_all(header::ACCEPT).iter().count(), 2);
        assert_eq!(kept.len(), 3);
    }
}
