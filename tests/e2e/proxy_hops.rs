//! The server's proxy against paths and hops meant to escape the `/v2/` API: encoded `..`,
//! `//`, backslashes and control characters on the first request; redirects from an allowed
//! registry to a non-`/v2/` path of another allowed host (a tripwire that must see no
//! connection at all); redirect loops; credentials typed into the proxy address. No secret
//! reaches an answer or the server's log.
//!
//! Requests are written to the socket as they are here ([`Proxy::raw`]), so no URL parser
//! tidies a path before the server sees it.

use layerize_tests::hostile::{basic, Action, Auth, Hostile, Rule};
use layerize_tests::proxy::Proxy;
use layerize_tests::{Registry, RegistryAuth};

const USER: &str = "hopper";
const PASSWORD: &str = "Secr3t-pw";
const TOKEN: &str = "hop-token-5ab1-never-logged";

/// Every secret these tests send, in every form it could be logged in.
fn secrets() -> Vec<String> {
    vec![PASSWORD.to_owned(), TOKEN.to_owned(), basic(USER, PASSWORD), basic(USER, PASSWORD)[6..].to_owned()]
}

fn assert_clean(proxy: &Proxy) {
    let secrets = secrets();
    proxy.assert_log_clean(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

/// Paths that leave `/v2/` once a registry decodes them: 403 saying only `/v2/` is proxied,
/// and the registry never sees them.
#[test]
fn proxy_hops_encoded_escapes_from_v2_are_refused() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let proxy = Proxy::start(&[registry.host()]);
    let prefix = format!("/proxy/http/{}", registry.host());
    let auth = basic(USER, PASSWORD);
    let escapes = [
        "/v2/..%2f..%2fdebug/vars",
        "/v2/..%2F..%2Fdebug/vars",
        "/v2/%2e%2e/%2e%2e/debug/vars",
        "/v2/%2E%2E%2F%2E%2E%2Fdebug/vars",
        "/v2/.%2e/debug/vars",
        "/v2/hops/base/..%2f..%2f..%2fdebug/vars",
        "//v2/../debug/vars",
        "/v2//debug/vars",
        "/v2/..%5c..%5cdebug/vars",
        "/v2/hops%00/base/tags/list",
        "/v2/hops%0a/base/tags/list",
        "/v2/hops/base/tags/list%0d%0aX-Injected:%201",
        "/v2/..%2f..%2fdebug/vars?_state=Secr3t-pw",
    ];
    for escape in escapes {
        let target = format!("{prefix}{escape}");
        let answer = proxy.raw("GET", &target, &[("Authorization", &auth)]);
        let text = answer.text();
        assert_eq!(answer.status, 403, "{target}: {text}");
        assert!(text.contains("only the /v2/ API of a registry is proxied"), "{target}: {text}");
        assert!(!text.contains(PASSWORD), "{target}: the answer echoes a secret: {text}");
    }
    // The control: the same registry's API passes.
    let ok = proxy.raw("GET", &format!("{prefix}/v2/"), &[]);
    assert_eq!(ok.status, 200, "{}", ok.text());
    let unknown = proxy.raw("GET", &format!("{prefix}/v2/hops/base/tags/list"), &[]);
    assert_eq!(unknown.status, 404, "the registry's own answer passes: {}", unknown.text());
    let log = registry.log();
    assert!(!log.contains("debug/vars") && !log.contains("X-Injected"), "the registry was reached:\n{log}");
    assert_clean(&proxy);
}

/// An allowed registry redirecting to a non-`/v2/` path of another allowed host (or its own):
/// refused before any connection to it. The control hop (to that host's `/v2/`) shows the
/// tripwire works, and carries no credentials.
#[test]
fn proxy_hops_redirects_out_of_v2_never_connect() {
    let tripwire = Hostile::tripwire();
    let control_blob = tripwire.put_blob("elsewhere", b"a blob on the other host\n");
    let hostile = Hostile::start(Auth::None);
    let proxy = Proxy::start(&[hostile.host(), tripwire.host()]);
    let trip = tripwire.url();
    let escapes = [
        format!("{trip}/debug/vars"),
        format!("{trip}/v2/..%2f..%2fdebug/vars"),
        format!("{trip}/v2/%2e%2e/admin"),
        format!("{trip}//v2/x"),
        format!("{trip}/v2/x%5c..%5c..%5cadmin"),
        "/admin".to_owned(),
        "/v2/..%2fadmin".to_owned(),
    ];
    for (i, location) in escapes.iter().enumerate() {
        let from = format!("/v2/r{i}/blobs/sha256:{}", "0".repeat(64));
        hostile.add_rule(Rule::new("GET", &from, Action::redirect(location)));
        for auth in [format!("Bearer {TOKEN}"), basic(USER, PASSWORD)] {
            let answer =
                proxy.raw("GET", &format!("/proxy/http/{}{from}", hostile.host()), &[("Authorization", &auth)]);
            let text = answer.text();
            assert_eq!(answer.status, 403, "redirect to {location}: {text}");
            assert!(text.contains("only the /v2/ API of a registry is proxied"), "redirect to {location}: {text}");
        }
        assert_eq!(tripwire.connections(), 0, "the proxy connected to the tripwire after a redirect to {location}");
    }
    let strays: Vec<String> =
        hostile.seen().into_iter().filter(|s| !s.path().starts_with("/v2/r")).map(|s| s.target).collect();
    assert!(strays.is_empty(), "the registry was asked for a path outside /v2/: {strays:?}");

    // Control: a redirect to the other host's /v2/ API is followed, without credentials (and
    // the blob, checked against the digest the page asked for, arrives whole).
    let from = format!("/v2/control/blobs/{control_blob}");
    hostile.add_rule(Rule::new("GET", &from, Action::redirect(&format!("{trip}/v2/elsewhere/blobs/{control_blob}"))));
    let answer = proxy.raw(
        "GET",
        &format!("/proxy/http/{}{from}", hostile.host()),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.text(), "a blob on the other host\n");
    let seen = tripwire.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].authorization().is_none(), "credentials followed the redirect to another host");
    tripwire.assert_never_saw(&[TOKEN, PASSWORD]);
    assert_clean(&proxy);
}

/// Redirect loops (on one host, and between two allowed hosts) end in a 502 that says so,
/// after a handful of hops.
#[test]
fn proxy_hops_redirect_loops_end() {
    let one = Hostile::start(Auth::None);
    let two = Hostile::start(Auth::None);
    let proxy = Proxy::start(&[one.host(), two.host()]);
    let path = "/v2/loop/blobs/sha256:2222222222222222222222222222222222222222222222222222222222222222";
    one.add_rule(Rule::new("GET", path, Action::redirect(path)));
    let answer = proxy.raw(
        "GET",
        &format!("/proxy/http/{}{path}", one.host()),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(answer.status, 502, "{}", answer.text());
    assert!(answer.text().contains("redirected more than"), "{}", answer.text());
    let hops = one.seen().len();
    assert!((2..=11).contains(&hops), "{hops} requests for one loop");

    let ping = "/v2/pingpong/blobs/sha256:3333333333333333333333333333333333333333333333333333333333333333";
    one.add_rule(Rule::new("GET", "/v2/pingpong/", Action::redirect(&format!("{}{ping}", two.url()))));
    two.add_rule(Rule::new("GET", "/v2/pingpong/", Action::redirect(&format!("{}{ping}", one.url()))));
    let answer =
        proxy.raw("GET", &format!("/proxy/http/{}{ping}", one.host()), &[("Authorization", &basic(USER, PASSWORD))]);
    assert_eq!(answer.status, 502, "{}", answer.text());
    assert!(answer.text().contains("redirected more than"), "{}", answer.text());
    assert!(two.seen().iter().all(|s| s.authorization().is_none()), "credentials crossed to the other host");
    assert_clean(&proxy);
}

/// `user:password@` in the proxy address: 400, and neither the answer nor the log holds the
/// password (the address is shown as `…@host`).
#[test]
fn proxy_hops_credentials_in_the_address_are_never_echoed() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let proxy = Proxy::start(&[registry.host()]);
    let host = registry.host();
    let addresses = [
        format!("/proxy/http/{USER}:{PASSWORD}@{host}/v2/"),
        format!("/proxy/https/{USER}:{PASSWORD}@{host}/v2/"),
        format!("/proxy/http/{USER}:{PASSWORD}@{host}/v2/x/manifests/1?_state={PASSWORD}"),
        format!("/proxy/http/{PASSWORD}@{host}/v2/"),
        format!("/proxy/http/{USER}:{PASSWORD}%40{host}/v2/"),
        format!("/proxy/http/{USER}%3A{PASSWORD}@{host}/v2/"),
    ];
    // Every leak is collected before the test fails, so one run shows them all.
    let mut leaks = Vec::new();
    for address in &addresses {
        let answer = proxy.raw("GET", address, &[]);
        let text = answer.text();
        assert_eq!(answer.status, 400, "{address}: {text}");
        if text.contains(PASSWORD) {
            leaks.push(format!("the answer to {address} echoes the password: {}", text.trim()));
        }
    }
    let answer = proxy.raw("GET", &addresses[0], &[]);
    assert!(answer.text().contains(&format!("…@{host}")), "{}", answer.text());
    let log = registry.log();
    assert!(!log.contains(PASSWORD), "the registry got the password:\n{log}");
    let server_log = proxy.log();
    leaks.extend(
        server_log.lines().filter(|line| line.contains(PASSWORD)).map(|line| format!("the server logged: {line}")),
    );
    assert!(leaks.is_empty(), "{} leaks:\n{}", leaks.len(), leaks.join("\n"));
    assert_clean(&proxy);
}
