//! The page: files of the `--dist` dir (as trunk builds it), with `index.html` for any path that
//! names no file, so that the page's own routes load it.

use std::path::Path;

use tower_http::services::{ServeDir, ServeFile};

/// Serves `dist`. Content types come from file extensions (`.wasm` is `application/wasm`, which
/// browsers require for streaming compilation). The page is not made cross-origin isolated
/// (no COOP/COEP headers): nothing in it shares memory between workers (a layer is read
/// straight off its download in one worker), and without them it may be embedded and load
/// cross-origin content.
pub fn service(dist: &Path) -> ServeDir<ServeFile> {
    ServeDir::new(dist).append_index_html_on_directories(true).fallback(ServeFile::new(dist.join("index.html")))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use tower::ServiceExt;

    use crate::{app, AppState, Targets};

    #[tokio::test]
    async fn serves_files_wasm_typed_and_index_as_fallback() {
        let dist = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        fs::write(dist.path().join("index.html"), "<!doctype html><title>layerize</title>")
            .unwrap_or_else(|e| panic!("{e}"));
        fs::write(dist.path().join("layerize-web_bg.wasm"), b"\0asm\x01\0\0\0").unwrap_or_else(|e| panic!("{e}"));
        let state = AppState::new(dist.path(), Targets::new([]), Vec::new()).unwrap_or_else(|e| panic!("{e}"));

        for (path, status, content_type, body) in [
            ("/", StatusCode::OK, "text/html", "<!doctype html><title>layerize</title>".as_bytes()),
            ("/layerize-web_bg.wasm", StatusCode::OK, "application/wasm", b"\0asm\x01\0\0\0".as_slice()),
            ("/some/page/route", StatusCode::OK, "text/html", b"<!doctype html><title>layerize</title>".as_slice()),
        ] {
            let request = Request::get(path).body(Body::empty()).unwrap_or_else(|e| panic!("{e}"));
            let response = app(state.clone()).oneshot(request).await.unwrap_or_else(|e| match e {});
            assert_eq!(response.status(), status, "{path}");
            let got_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert!(got_type.starts_with(content_type), "{path}: {got_type}");
            for isolation in ["cross-origin-opener-policy", "cross-origin-embedder-policy"] {
                assert!(response.headers().get(isolation).is_none(), "{path}: {isolation}");
            }
            let got = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&got[..], body, "{path}");
        }
    }
}
