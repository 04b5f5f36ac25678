//! Parsing `WWW-Authenticate` challenges (RFC 7235), the way registries send them:
//! `Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"`.

use std::collections::BTreeMap;

/// One challenge: its scheme (lowercased) and parameters (names lowercased).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Parses the first challenge of a header value; `None` if it has no scheme.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
        if scheme.is_empty() {
            return None;
        }
        let mut params = BTreeMap::new();
        let mut chars = rest.trim_start().chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
                chars.next();
            }
            let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() {
                break;
            }
            if chars.next_if_eq(&'=').is_none() {
                // A token68 or a bare word: a second challenge starts here; ignore the rest.
                break;
            }
            let mut value = String::new();
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_owned();
            }
            params.insert(name, value);
        }
        Some(Challenge { scheme: scheme.to_ascii_lowercase(), params })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_with_commas_in_quotes() {
        let c = Challenge::parse(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#).unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:library/alpine:pull,push"));
    }

    #[test]
    fn parses_basic_and_unquoted() {
        let c = Challenge::parse(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!((c.scheme.as_str(), c.param("realm")), ("basic", Some("Registry Realm")));
        let c = Challenge::parse("Bearer realm=http://x/token, service=svc").unwrap();
        assert_eq!(c.param("realm"), Some("http://x/token"));
        assert_eq!(c.param("service"), Some("svc"));
        assert_eq!(Challenge::parse(""), None);
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A challenge as a header value, every value quoted with `\` and `"` escaped.
        fn render(scheme: &str, params: &BTreeMap<String, String>) -> String {
            let params: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            format!("{scheme} {}", params.join(", "))
        }

        proptest! {
            /// Whatever a server sends, parsing returns, with a lowercase scheme and lowercase
            /// parameter names, and writing the result back out parses to the same challenge.
            #[test]
            fn parse_never_panics_and_round_trips(
                header in prop_oneof![".{0,60}", "[A-Za-z]{1,8}( [a-zA-Z =,\"\\\\\t]{0,40})?"],
            ) {
                if let Some(c) = Challenge::parse(&header) {
                    prop_assert!(!c.scheme.is_empty());
                    prop_assert_eq!(&c.scheme, &c.scheme.to_ascii_lowercase());
                    for name in c.params.keys() {
                        prop_assert!(!name.is_empty());
                        prop_assert_eq!(name, &name.to_ascii_lowercase());
                    }
                    let rendered = render(&c.scheme, &c.params);
                    prop_assert_eq!(Challenge::parse(&rendered), Some(c));
                }
            }

            /// Any scheme and parameters a registry means, quoted as it should, come back as sent.
            #[test]
            fn quoted_parameters_come_back(
                scheme in "[A-Za-z][A-Za-z0-9-]{0,10}",
                params in proptest::collection::btree_map("[a-z_]{1,10}", ".{0,30}", 0..5),
            ) {
                let c = Challenge::parse(&render(&scheme, &params));
                prop_assert_eq!(c, Some(Challenge { scheme: scheme.to_ascii_lowercase(), params }));
            }
        }
    }
}
