//! Removing secrets from URLs before they reach a message or a log line. Upload locations
//! carry opaque state (and some registries put tokens) in their query, so the query goes.

use url::Url;

/// `scheme://host[:port]/path`, with user info dropped and any query shown as `?…`.
pub fn url(url: &Url) -> String {
    let mut s = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        s.push_str(&format!(":{port}"));
    }
    s.push_str(url.path());
    if url.query().is_some() {
        s.push_str("?…");
    }
    s
}

/// A URL path as someone typed it (a proxy address, say), for a message or a log line: any
/// `user:password@` in a segment becomes `…@`, so a path that smuggles userinfo shows none of it.
/// A segment is judged percent-decoded (as often as it decodes to something new, so nested
/// encodings too): `user:pw%40host` and `user:pw%2540host` hide their password as well.
pub fn path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let mut decoded = segment.to_owned();
            for _ in 0..8 {
                let next = percent_encoding::percent_decode_str(&decoded).decode_utf8_lossy().into_owned();
                if next == decoded {
                    break;
                }
                decoded = next;
            }
            match decoded.rfind('@') {
                Some(at) => format!("…{}", &decoded[at..]),
                None => segment.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn drops_userinfo_from_a_typed_path() {
        let s = super::path("/proxy/http/user:pa55@127.0.0.1:5000/v2/");
        assert_eq!(s, "/proxy/http/…@127.0.0.1:5000/v2/");
        assert_eq!(super::path("/proxy/https/a%40b:c@d@host/x"), "/proxy/https/…@host/x");
        assert_eq!(super::path("/proxy/https/ghcr.io/v2/"), "/proxy/https/ghcr.io/v2/");
        assert_eq!(super::path("/proxy/http/u:Secr3t%40127.0.0.1:5000/v2/"), "/proxy/http/…@127.0.0.1:5000/v2/");
        assert_eq!(super::path("/proxy/http/u%3ASecr3t%2540h/v2/"), "/proxy/http/…@h/v2/");
    }

    #[test]
    fn drops_userinfo_and_query() {
        let u = url::Url::parse("https://bob:secret@r.example:5000/v2/a/blobs/uploads/x?_state=tok&digest=sha256:1")
            .unwrap();
        let s = super::url(&u);
        assert_eq!(s, "https://r.example:5000/v2/a/blobs/uploads/x?…");
        assert!(!s.contains("secret") && !s.contains("tok"));
    }
}
