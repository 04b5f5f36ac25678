//! The forwarding route: `/proxy/{scheme}/{host[:port]}/{path}?{query}` is sent to
//! `{scheme}://{host[:port]}/{path}?{query}` once the target is admitted, with bodies streamed
//! both ways and redirects followed here (each hop admitted again), never by the client.

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use layerize_core::Digest;
use layerize_registry::redact;
use url::Url;

use crate::blob_check;
use crate::error::Error;
use crate::headers;
use crate::target::Reach;
use crate::AppState;

/// Where proxy addresses start.
pub const PREFIX: &str = "/proxy/";
/// Redirects followed for one request; blob downloads take one or two.
pub const MAX_REDIRECTS: usize = 5;

/// The route's handler: one log line per request, naming no header, query or body.
pub async fn forward(State(state): State<AppState>, request: Request) -> Response {
    let method = request.method().clone();
    let url = match target_url(request.uri()) {
        Ok(url) => url,
        Err(e) => {
            tracing::warn!(%method, status = e.status().as_u16(), "{e}");
            return e.into_response();
        }
    };
    let shown = redact::url(&url);
    match send(&state, url, request).await {
        Ok((response, redirects)) => {
            tracing::info!(%method, url = %shown, status = response.status().as_u16(), redirects, "proxied");
            response
        }
        Err(e) => {
            tracing::warn!(%method, url = %shown, status = e.status().as_u16(), "{e}");
            e.into_response()
        }
    }
}

/// The upstream URL a proxy address stands for. The path is taken raw (not percent-decoded) and
/// normalised by the URL parser, so `..` cannot climb out of `/v2/` unseen.
pub fn target_url(uri: &Uri) -> Result<Url, Error> {
    let path = uri.path();
    // The path is the user's input: it is shown (in the answer and the log) without userinfo.
    let bad = |reason: String| Error::BadTarget { path: redact::path(path), reason };
    let rest = path.strip_prefix(PREFIX).ok_or_else(|| bad("it does not start with /proxy/".to_owned()))?;
    let (scheme, rest) = rest.split_once('/').ok_or_else(|| bad("it names no host".to_owned()))?;
    if scheme != "http" && scheme != "https" {
        return Err(bad(format!("the scheme is {scheme:?}, not http or https")));
    }
    let (authority, upstream_path) =
        rest.split_once('/').ok_or_else(|| bad("it has no path after the host".to_owned()))?;
    // Judged decoded (see `redact::path`): `user:pw%40host` names a password as surely as `user:pw@host`.
    if redact::path(authority) != authority {
        return Err(bad(
            "it names a user and password, which never belong in an address (send them as a request header)".to_owned(),
        ));
    }
    if authority.is_empty() || authority.contains(['\\', '#', '%']) {
        return Err(bad("the part after the scheme is not host[:port]".to_owned()));
    }
    let mut url = Url::parse(&format!("{scheme}://{authority}/{upstream_path}"))
        .map_err(|e| bad(format!("the part after the scheme is not host[:port]: {e}")))?;
    url.set_query(uri.query());
    Ok(url)
}

/// Sends `request` to `url` and follows redirects; returns the final answer and the number of
/// redirects followed.
async fn send(state: &AppState, url: Url, request: Request) -> Result<(Response, usize), Error> {
    let method = request.method().clone();
    let mut reach = state.targets.admit(&method, &url).await?;
    let (parts, body) = request.into_parts();
    let checked = blob_check::expected(&method, &url, parts.headers.contains_key(header::RANGE));
    let mut headers = headers::filter(&parts.headers, &headers::REQUEST);
    // A request without a body must not grow a chunked one on the way.
    let mut body = (!body.is_end_stream()).then(|| reqwest::Body::wrap_stream(body.into_data_stream()));
    let origin = url.origin();
    let mut url = url;
    let mut redirects = 0;
    loop {
        let mut upstream = state.upstream.client(reach).request(method.clone(), url.clone()).headers(headers.clone());
        let sent_body = body.take();
        // A streamed body is gone once sent, so only body-less requests can be sent again.
        let can_follow = sent_body.is_none() && (method == Method::GET || method == Method::HEAD);
        if let Some(sent_body) = sent_body {
            upstream = upstream.body(sent_body);
        }
        let response = upstream.send().await.map_err(|e| Error::upstream(&method, &url, e))?;
        if reach == Reach::Listed {
            state.targets.learn_realm(&url, response.headers()).await;
        }
        if !(can_follow && is_redirect(response.status())) {
            return Ok((respond(response, checked), redirects));
        }
        if redirects == MAX_REDIRECTS {
            return Err(Error::TooManyRedirects { url: redact::url(&url), limit: MAX_REDIRECTS });
        }
        let next = location(&url, response.headers()).ok_or_else(|| Error::BadRedirect { url: redact::url(&url) })?;
        reach = state.targets.admit_redirect(&method, &next).await?;
        if next.origin() != origin {
            // Credentials are for the host the page asked, never for a storage host.
            headers.remove(header::AUTHORIZATION);
        }
        url = next;
        redirects += 1;
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

fn location(base: &Url, headers: &HeaderMap) -> Option<Url> {
    let value = headers.get(header::LOCATION)?.to_str().ok()?;
    base.join(value).ok()
}

/// The upstream answer with its allowed headers, its body streamed through (and checked
/// against `checked`, the digest in a blob URL, when it is the whole blob: see
/// [`blob_check`]).
fn respond(upstream: reqwest::Response, checked: Option<Digest>) -> Response {
    let status = upstream.status();
    let mut headers = headers::filter(upstream.headers(), &headers::RESPONSE);
    headers::carry_challenge(upstream.headers(), &mut headers);
    let body = match checked.filter(|_| blob_check::whole(status)) {
        Some(digest) => {
            if let Some(value) = blob_check::header(&digest) {
                headers.insert(blob_check::CHECKED, value);
            }
            Body::from_stream(blob_check::Checked::new(Box::pin(upstream.bytes_stream()), digest))
        }
        None => Body::from_stream(upstream.bytes_stream()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests;
