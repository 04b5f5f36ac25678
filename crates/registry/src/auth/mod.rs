//! Registry authentication state: credentials, the challenge the registry answered with,
//! and bearer tokens cached by scope.
//!
//! The Docker token-auth flow: a request gets 401 with `WWW-Authenticate: Bearer realm=…,
//! service=…, scope=…`; the client asks the realm for a token for the scopes it needs
//! (sending basic credentials if it has any) and repeats the request with it.

pub mod challenge;

use std::collections::HashMap;
use std::fmt;

use base64::Engine;

pub use self::challenge::Challenge;

/// What the user gave to log in with. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// A bearer token used as is (e.g. a registry access token pasted by the user).
    Bearer {
        token: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}:<redacted>)"),
            Credentials::Bearer { .. } => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Credentials {
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            Credentials::Bearer { .. } => None,
        }
    }
}

/// A token scope: `repository:NAME:ACTIONS`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

impl Scope {
    pub fn pull(repository: &str) -> Scope {
        Scope(format!("repository:{repository}:pull"))
    }

    pub fn push(repository: &str) -> Scope {
        Scope(format!("repository:{repository}:pull,push"))
    }

    pub fn raw(scope: &str) -> Scope {
        Scope(scope.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the client has learned about how a registry wants to be authenticated.
#[derive(Default)]
pub(crate) struct AuthState {
    /// The challenge from the last 401 (or the ping); `None` while no auth was asked for.
    pub(crate) challenge: Option<Challenge>,
    /// Bearer tokens by the sorted scope list they were issued for.
    tokens: HashMap<String, String>,
    pub(crate) pinged: bool,
}

impl AuthState {
    pub(crate) fn scope_key(scopes: &[Scope]) -> String {
        let mut s: Vec<&str> = scopes.iter().map(Scope::as_str).collect();
        s.sort_unstable();
        s.dedup();
        s.join(" ")
    }

    pub(crate) fn token(&self, scopes: &[Scope]) -> Option<&str> {
        self.tokens.get(&Self::scope_key(scopes)).map(String::as_str)
    }

    pub(crate) fn store_token(&mut self, scopes: &[Scope], token: String) {
        self.tokens.insert(Self::scope_key(scopes), token);
    }

    /// Forgets a token the registry refused, so the next try fetches a fresh one.
    pub(crate) fn drop_token(&mut self, scopes: &[Scope]) {
        self.tokens.remove(&Self::scope_key(scopes));
    }

    /// The `Authorization` value to send for `scopes`, if any is known.
    pub(crate) fn header(&self, credentials: Option<&Credentials>, scopes: &[Scope]) -> Option<String> {
        let scheme = self.challenge.as_ref().map(|c| c.scheme.as_str());
        match (scheme, credentials) {
            (_, Some(Credentials::Bearer { token })) => Some(format!("Bearer {token}")),
            (Some("basic"), Some(c)) => c.basic_header(),
            (Some("bearer"), _) => self.token(scopes).map(|t| format!("Bearer {t}")),
            _ => None,
        }
    }
}

impl fmt::Debug for AuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthState").field("challenge", &self.challenge).field("tokens", &self.tokens.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::Basic { username: "bob".into(), password: "hunter2".into() };
        assert!(!format!("{c:?}").contains("hunter2"));
        let t = Credentials::Bearer { token: "tok-123".into() };
        assert!(!format!("{t:?}").contains("tok-123"));
    }

    #[test]
    fn tokens_are_cached_by_scope_set() {
        let mut s = AuthState { challenge: Challenge::parse(r#"Bearer realm="http://x/t""#), ..Default::default() };
        let a = [Scope::push("a"), Scope::pull("b")];
        s.store_token(&a, "T".into());
        let same = [Scope::pull("b"), Scope::push("a")];
        assert_eq!(s.header(None, &same).as_deref(), Some("Bearer T"));
        assert_eq!(s.header(None, &[Scope::pull("a")]), None);
    }
}
