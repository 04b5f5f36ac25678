//! The proxy route in-process (`app(state).oneshot(request)`): refusals before any network, and
//! against small loopback upstreams for what a real registry never does (send cookies, redirect
//! in circles, echo what it was sent).

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;

use crate::{app, AppState, CorsOrigin, Targets};

fn state(allow: &[String], cors: &[&str]) -> AppState {
    let targets = Targets::new(allow.iter().map(|s| s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))));
    let origins: Vec<CorsOrigin> = cors.iter().map(|s| s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))).collect();
    AppState::new("/nonexistent-dist", targets, origins).unwrap_or_else(|e| panic!("{e}"))
}

async fn call(state: &AppState, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = app(state.clone()).oneshot(request).await.unwrap_or_else(|e| match e {});
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_else(|e| panic!("{e}"));
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

async fn get_path(state: &AppState, path: &str) -> (StatusCode, HeaderMap, String) {
    call(state, Request::get(path).body(Body::empty()).unwrap_or_else(|e| panic!("{e}"))).await
}

/// Serves `router` on a loopback port until the test's runtime ends.
async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(axum::serve(listener, router).into_future());
    addr
}

#[tokio::test]
async fn an_unlisted_host_is_refused_by_name_with_the_flag_to_allow_it() {
    let (status, headers, body) = get_path(&state(&[], &[]), "/proxy/https/registry.evil.example/v2/").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("registry.evil.example"), "{body}");
    assert!(body.contains("--allow-registry registry.evil.example"), "{body}");
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap_or_default().starts_with("text/plain"));
}

#[tokio::test]
async fn internal_addresses_are_refused_before_any_connection() {
    // A listener on the loopback port named: it must never see a connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
    let state = state(&[], &[]);
    for (path, named) in [
        ("/proxy/https/10.0.0.1/v2/".to_owned(), "10.0.0.1".to_owned()),
        ("/proxy/http/169.254.169.254/latest/meta-data/".to_owned(), "169.254.169.254".to_owned()),
        ("/proxy/http/[::1]/v2/".to_owned(), "[::1]".to_owned()),
        ("/proxy/http/0x7f.1/v2/".to_owned(), "127.0.0.1".to_owned()),
        (format!("/proxy/http/127.0.0.1:{port}/v2/"), format!("127.0.0.1:{port}")),
    ] {
        let answer = tokio::time::timeout(Duration::from_secs(5), get_path(&state, &path)).await;
        let (status, _, body) = answer.unwrap_or_else(|_| panic!("{path}: no answer in 5 s"));
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(body.contains(&named), "{path}: {body}");
    }
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "the proxy connected to 127.0.0.1:{port}");
}

#[tokio::test]
async fn only_the_v2_api_of_an_allowed_registry_is_proxied() {
    let state = state(&[], &[]);
    for path in [
        "/proxy/https/ghcr.io/token",
        "/proxy/https/ghcr.io/v2/../admin",
        "/proxy/https/ghcr.io/v2/%2e%2e/admin",
        "/proxy/https/ghcr.io/",
    ] {
        let (status, _, body) = get_path(&state, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(body.contains("only the /v2/ API"), "{path}: {body}");
    }
}

#[tokio::test]
async fn malformed_proxy_addresses_are_bad_requests() {
    let state = state(&[], &[]);
    for path in [
        "/proxy/gopher/ghcr.io/v2/",
        "/proxy/https/ghcr.io",
        "/proxy/https/user@ghcr.io/v2/",
        "/proxy/https/ghcr.io:99999/v2/",
        "/proxy/https//v2/",
    ] {
        let (status, _, body) = get_path(&state, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body.contains("not a proxy address"), "{path}: {body}");
    }
}

#[tokio::test]
async fn cors_preflight_is_answered_for_configured_origins_only() {
    let state = state(&[], &["http://127.0.0.1:8081"]);
    let preflight = |origin: &str| {
        Request::options("/proxy/https/ghcr.io/v2/")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PATCH")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization,content-range")
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (status, headers, _) = call(&state, preflight("http://127.0.0.1:8081")).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://127.0.0.1:8081");
    let methods = headers[header::ACCESS_CONTROL_ALLOW_METHODS].to_str().unwrap_or_default().to_owned();
    assert!(methods.contains("PATCH"), "{methods}");
    let allowed = headers[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap_or_default().to_owned();
    assert!(allowed.contains("authorization") && allowed.contains("content-range"), "{allowed}");

    let (_, headers, _) = call(&state, preflight("http://evil.example")).await;
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());

    // A refusal is readable by the configured page, and names what it may read.
    let request = Request::get("/proxy/https/registry.evil.example/v2/")
        .header(header::ORIGIN, "http://127.0.0.1:8081")
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, headers, _) = call(&state, request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://127.0.0.1:8081");
    let exposed = headers[header::ACCESS_CONTROL_EXPOSE_HEADERS].to_str().unwrap_or_default().to_owned();
    assert!(exposed.contains("docker-content-digest") && exposed.contains("x-registry-www-authenticate"), "{exposed}");
}

#[tokio::test]
async fn only_allowed_headers_cross_either_way() {
    async fn echo(headers: HeaderMap) -> impl IntoResponse {
        let seen: Vec<String> = headers.keys().map(|name| name.as_str().to_owned()).collect();
        ([("set-cookie", "tracking=1"), ("docker-content-digest", "sha256:abc"), ("x-internal", "yes")], seen.join(","))
    }
    let upstream = serve(Router::new().route("/v2/echo", get(echo))).await;
    let state = state(&[upstream.to_string()], &[]);
    let request = Request::get(format!("/proxy/http/{upstream}/v2/echo?a=1"))
        .header(header::AUTHORIZATION, "Bearer t")
        .header(header::ACCEPT, "application/json")
        .header(header::COOKIE, "session=secret")
        .header("x-forwarded-for", "10.0.0.9")
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, headers, body) = call(&state, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen: Vec<&str> = body.split(',').collect();
    assert!(seen.contains(&"authorization") && seen.contains(&"accept"), "{body}");
    assert!(!seen.contains(&"cookie") && !seen.contains(&"x-forwarded-for"), "{body}");
    // A GET without a body stays without one.
    assert!(!seen.contains(&"transfer-encoding"), "{body}");
    assert_eq!(headers["docker-content-digest"], "sha256:abc");
    assert!(headers.get(header::SET_COOKIE).is_none() && headers.get("x-internal").is_none());
}

#[tokio::test]
async fn redirects_are_followed_without_credentials_to_other_hosts() {
    async fn has_auth(headers: HeaderMap) -> String {
        format!("authorization: {}", headers.contains_key(header::AUTHORIZATION))
    }
    let storage = serve(Router::new().route("/v2/blob", get(has_auth)).route("/blob", get(has_auth))).await;
    let target = format!("http://{storage}/v2/blob");
    let outside = format!("http://{storage}/blob");
    let same_host_target = "/v2/same".to_owned();
    let registry = serve(
        Router::new()
            .route("/v2/other", get(move || async move { Redirect::temporary(&target) }))
            .route("/v2/out", get(move || async move { Redirect::temporary(&outside) }))
            .route("/v2/here", get(move || async move { Redirect::temporary(&same_host_target) }))
            .route("/v2/same", get(has_auth))
            .route("/v2/loop", get(|| async { Redirect::temporary("/v2/loop") })),
    )
    .await;
    let state = state(&[registry.to_string(), storage.to_string()], &[]);
    let with_auth = |path: &str| {
        Request::get(format!("/proxy/http/{registry}{path}"))
            .header(header::AUTHORIZATION, "Basic dTpw")
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (status, _, body) = call(&state, with_auth("/v2/here")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "authorization: true"));
    let (status, _, body) = call(&state, with_auth("/v2/other")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "authorization: false"));
    // An allowlisted host is held to its /v2/ API on a redirect too.
    let (status, _, body) = call(&state, with_auth("/v2/out")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("only the /v2/ API of a registry is proxied, not /blob"), "{body}");
    let (status, _, body) = call(&state, with_auth("/v2/loop")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains("redirected more than 5 times"), "{body}");
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_bad_gateway_without_the_query() {
    // Bound and dropped: nothing listens there any more.
    let port = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .and_then(|listener| listener.local_addr())
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    let state = state(&[format!("127.0.0.1:{port}")], &[]);
    let (status, _, body) =
        get_path(&state, &format!("/proxy/http/127.0.0.1:{port}/v2/a/blobs/uploads/u?_state=SECRETSTATE")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains(&format!("127.0.0.1:{port}/v2/a/blobs/uploads/u")), "{body}");
    assert!(!body.contains("SECRETSTATE"), "{body}");
}

#[tokio::test]
async fn a_refused_address_is_echoed_without_its_password() {
    let state = state(&["127.0.0.1:5000".to_owned()], &[]);
    for path in [
        "/proxy/http/user:Secr3t-pw@127.0.0.1:5000/v2/",
        "/proxy/http/user:Secr3t-pw@/v2/",
        "/proxy/http/user:Secr3t-pw%40127.0.0.1:5000/v2/",
        "/proxy/http/user%3ASecr3t-pw%2540127.0.0.1:5000/v2/",
    ] {
        let request = Request::get(path).body(Body::empty()).unwrap_or_else(|e| panic!("{e}"));
        let (status, _, body) = call(&state, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(!body.contains("Secr3t-pw") && !body.contains("user:") && !body.contains("user%3A"), "{body}");
        assert!(body.contains("…@"), "{body}");
    }
}

#[tokio::test]
async fn an_encoded_climb_out_of_v2_is_refused_before_any_connection() {
    // Nothing listens on the registry's port: a request that got through would be a 502.
    let state = state(&["127.0.0.1:9".to_owned()], &[]);
    for path in ["/v2/..%2f..%2fdebug/vars", "/v2/%2E%2E/%2e%2e/metrics", "/v2/a/..%5c..%5cx"] {
        let request = Request::get(format!("/proxy/http/127.0.0.1:9{path}"))
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        let (status, _, body) = call(&state, request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(body.contains("only the /v2/ API"), "{path}: {body}");
    }
}
