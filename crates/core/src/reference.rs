//! Image references (`[registry/]repository[:tag][@digest]`) with Docker's normalisation.
//!
//! `alpine` means `docker.io/library/alpine:latest`; a first component with a `.` or `:`, or
//! `localhost`, is a registry host. These are the rules of distribution's `reference` package,
//! which every Docker-compatible tool follows, so a user gets the image they expect.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, ReferenceProblem};

/// The registry that unqualified names resolve to.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed, normalised image reference.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// The registry as the user wrote it after normalisation (`docker.io`, `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host to talk to: Docker Hub's API does not live at `docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to ask the registry for: the digest when there is one (it pins the content),
    /// else the tag, `latest` when neither was given.
    pub fn selector(&self) -> &str {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.as_str(),
            (None, Some(t)) => t,
            (None, None) => "latest",
        }
    }

    /// The same repository pinned to `digest` (the form printed after a push).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference { tag: None, digest: Some(digest), ..self.clone() }
    }

    /// The same repository at `tag`.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, Error> {
        check_tag(self.to_string().as_str(), tag)?;
        Ok(Reference { tag: Some(tag.to_owned()), digest: None, ..self.clone() })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// True for loopback registries, which Docker talks to over plain HTTP.
    pub fn is_loopback(&self) -> bool {
        let host = host_of(&self.registry);
        host == "localhost" || host.starts_with("127.") || host == "[::1]" || host == "::1"
    }
}

/// The host part of `host[:port]` (IPv6 literals keep their brackets).
fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry.split_once(']').map(|(h, _)| &registry[..=h.len()]).unwrap_or(registry);
    }
    registry.split_once(':').map(|(h, _)| h).unwrap_or(registry)
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let bad = |problem: ReferenceProblem| Error::InvalidReference { input: input.to_owned(), problem };
        if input.is_empty() {
            return Err(bad(ReferenceProblem::Empty));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => {
                let digest = d.parse::<Digest>().map_err(|_| bad(ReferenceProblem::Digest))?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(input, tag)?;
        }
        let (registry, repository) = split_registry(name);
        let registry = if registry == "index.docker.io" { DOCKER_HUB.to_owned() } else { registry.to_owned() };
        if registry.is_empty() || !valid_host(&registry) {
            return Err(bad(ReferenceProblem::Registry));
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_owned()
        };
        if repository.is_empty() {
            return Err(bad(ReferenceProblem::Empty));
        }
        if repository.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad(ReferenceProblem::Uppercase));
        }
        if !repository.split('/').all(valid_component) {
            return Err(bad(ReferenceProblem::Repository));
        }
        if registry.len() + 1 + repository.len() > 255 {
            return Err(bad(ReferenceProblem::TooLong));
        }
        Ok(Reference { registry, repository, tag: tag.map(str::to_owned), digest })
    }
}

/// Docker's rule: the first component is a host when it has a `.` or `:`, or is `localhost`.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    }
}

fn check_tag(input: &str, tag: &str) -> Result<(), Error> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidReference { input: input.to_owned(), problem: ReferenceProblem::Tag })
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_host(registry: &str) -> bool {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => return false,
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (registry, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = if registry.starts_with('[') {
        !host.is_empty() && host.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    port_ok && host_ok
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        if self.tag.is_none() && self.digest.is_none() {
            f.write_str(":latest")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalises_like_docker() {
        let cases = [
            ("alpine", "docker.io/library/alpine:latest"),
            ("alpine:3.20", "docker.io/library/alpine:3.20"),
            ("user/app", "docker.io/user/app:latest"),
            ("index.docker.io/user/app:1", "docker.io/user/app:1"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/app:v1", "localhost:5000/app:v1"),
            ("127.0.0.1:5000/base:1", "127.0.0.1:5000/base:1"),
            ("ghcr.io/org/sub/app:1.2-rc_3", "ghcr.io/org/sub/app:1.2-rc_3"),
            ("[::1]:5000/app", "[::1]:5000/app:latest"),
            ("a__b/c-d.e", "docker.io/a__b/c-d.e:latest"),
        ];
        for (input, want) in cases {
            let r: Reference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), want, "{input}");
        }
    }

    #[test]
    fn digest_and_tag_plus_digest() {
        let r: Reference = format!("alpine@{D}").parse().unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/alpine@{D}"));
        assert_eq!(r.selector(), D);
        let r: Reference = format!("127.0.0.1:5000/a/b:1@{D}").parse().unwrap();
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(r.selector(), D, "the digest pins the content");
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "a/b");
    }

    #[test]
    fn api_host_and_loopback() {
        let r: Reference = "alpine".parse().unwrap();
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert!(!r.is_loopback());
        for l in ["localhost:5000/a", "127.0.0.1:5000/a", "127.1.2.3/a", "[::1]:80/a"] {
            assert!(l.parse::<Reference>().unwrap().is_loopback(), "{l}");
        }
        assert!(!"10.0.0.1:5000/a".parse::<Reference>().unwrap().is_loopback());
    }

    #[test]
    fn rejects_each_rule_with_its_own_problem() {
        use ReferenceProblem::*;
        let long = "a".repeat(300);
        let cases: Vec<(String, ReferenceProblem)> = vec![
            ("".into(), Empty),
            ("Alpine".into(), Uppercase),
            ("docker.io/Library/alpine".into(), Uppercase),
            ("alpine:".into(), Tag),
            ("alpine:-x".into(), Tag),
            (format!("alpine:{}", "t".repeat(129)), Tag),
            ("alpine@sha256:abc".into(), Digest),
            ("a..b/c".into(), Registry),
            ("-host.io/c".into(), Registry),
            ("host.io:port/c".into(), Registry),
            ("a/-b".into(), Repository),
            ("a/b//c".into(), Repository),
            ("a/b_-c".into(), Repository),
            ("host.io/".into(), Empty),
            (long, TooLong),
        ];
        for (input, want) in cases {
            match input.parse::<Reference>() {
                Err(Error::InvalidReference { problem, .. }) => assert_eq!(problem, want, "{input:?}"),
                other => panic!("{input:?}: {other:?}"),
            }
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A registry as people write one: none (Docker Hub), a name with dots, a port, an IPv6 literal.
        fn registry() -> impl Strategy<Value = Option<String>> {
            prop_oneof![
                Just(None),
                Just(Some("localhost".to_owned())),
                Just(Some("[::1]:5000".to_owned())),
                "[a-z0-9]{1,6}(\\.[a-z0-9]{1,6}){1,2}(:[0-9]{1,5})?".prop_map(Some),
            ]
        }

        fn repository() -> impl Strategy<Value = String> {
            proptest::collection::vec("[a-z0-9]{1,4}(([._]|__|-{1,2})[a-z0-9]{1,4}){0,2}", 1..4)
                .prop_map(|c| c.join("/"))
        }

        fn digest() -> impl Strategy<Value = Option<String>> {
            proptest::option::of("[0-9a-f]{64}".prop_map(|hex| format!("sha256:{hex}")))
        }

        proptest! {
            /// Whatever the text, parsing returns; what parses displays as text that parses to
            /// the same reference and displays the same again.
            #[test]
            fn parse_never_panics_and_display_round_trips(
                input in prop_oneof![".{0,40}", "[a-zA-Z0-9.:/@_\\-\\[\\]]{0,60}"],
            ) {
                if let Ok(r) = input.parse::<Reference>() {
                    let shown = r.to_string();
                    let again: Reference = shown.parse().map_err(|e| TestCaseError::fail(format!("{shown:?}: {e}")))?;
                    prop_assert_eq!(again.to_string(), shown);
                    prop_assert_eq!(again.registry(), r.registry());
                    prop_assert_eq!(again.repository(), r.repository());
                    prop_assert_eq!(again.digest(), r.digest());
                    prop_assert_eq!(again.selector(), r.selector());
                }
            }

            /// A reference built from valid parts parses to those parts, normalised as Docker does.
            #[test]
            fn valid_parts_parse_to_themselves(
                registry in registry(),
                repository in repository(),
                tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
                digest in digest(),
            ) {
                // Without a registry, a first component with a dot would itself be taken for one.
                let first = repository.split('/').next().unwrap_or_default();
                prop_assume!(registry.is_some() || !repository.contains('/') || !(first.contains('.') || first == "localhost"));
                let mut input = match &registry {
                    Some(host) => format!("{host}/{repository}"),
                    None => repository.clone(),
                };
                if let Some(t) = &tag {
                    input = format!("{input}:{t}");
                }
                if let Some(d) = &digest {
                    input = format!("{input}@{d}");
                }
                let r: Reference = input.parse().map_err(|e| TestCaseError::fail(format!("{input:?}: {e}")))?;
                let (want_registry, want_repository) = match &registry {
                    Some(host) => (host.clone(), repository.clone()),
                    None if repository.contains('/') => (DOCKER_HUB.to_owned(), repository.clone()),
                    None => (DOCKER_HUB.to_owned(), format!("library/{repository}")),
                };
                prop_assert_eq!(r.registry(), want_registry.as_str());
                prop_assert_eq!(r.repository(), want_repository.as_str());
                prop_assert_eq!(r.tag(), tag.as_deref());
                prop_assert_eq!(r.digest().map(Digest::as_str), digest.as_deref());
                // Display writes `:latest` for a reference without tag or digest, so the text
                // round-trips to the same text (and, with a tag or digest, the same value).
                let again: Reference = r.to_string().parse().map_err(|e| TestCaseError::fail(format!("{r}: {e}")))?;
                prop_assert_eq!(again.to_string(), r.to_string());
                if tag.is_some() || digest.is_some() {
                    prop_assert_eq!(again, r);
                }
            }
        }
    }

    #[test]
    fn with_digest_drops_the_tag() {
        let r: Reference = "127.0.0.1:5000/app:1".parse().unwrap();
        let d: Digest = D.parse().unwrap();
        assert_eq!(r.with_digest(d).to_string(), format!("127.0.0.1:5000/app@{D}"));
    }
}
