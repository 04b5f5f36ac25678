//! A blob read synchronously over HTTP, one Range request per chunk, for the layer worker: the
//! core's layer reader pulls bytes, and a worker may block on a synchronous request, so a layer
//! is listed while it downloads with no more than one chunk in memory. Every byte is hashed, so
//! the caller can hold the blob to its digest once it has read to the end.

use std::io::{self, Read};

use layerize_core::digest::Hasher;
use layerize_registry::transport::proxy::BlobCheck;
use web_sys::{XmlHttpRequest, XmlHttpRequestResponseType};

/// Bytes per request: few round trips, little memory.
const CHUNK: u64 = 4 << 20;

pub struct RangeRead<'a> {
    url: String,
    /// The pull's Authorization header; a secret, sent only to `url` (the proxy forwards it
    /// to that registry alone).
    authorization: Option<String>,
    size: u64,
    pos: u64,
    buf: Vec<u8>,
    at: usize,
    hasher: Hasher,
    on_fetched: &'a mut dyn FnMut(u64, u64),
}

impl std::fmt::Debug for RangeRead<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeRead").field("size", &self.size).field("pos", &self.pos).finish_non_exhaustive()
    }
}

impl<'a> RangeRead<'a> {
    /// `size` bytes at `url`; `on_fetched(done, size)` after each request.
    pub fn new(url: String, authorization: Option<String>, size: u64, on_fetched: &'a mut dyn FnMut(u64, u64)) -> Self {
        RangeRead { url, authorization, size, pos: 0, buf: Vec::new(), at: 0, hasher: Hasher::new(), on_fetched }
    }

    /// Reads what the caller left unread; returns the whole blob's digest, computed here
    /// (Range answers are never checked by the proxy), and its length.
    pub fn finish(mut self) -> io::Result<(BlobCheck, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let len = self.hasher.len();
        Ok((BlobCheck::Computed(self.hasher.finish()), len))
    }

    fn fetch(&mut self) -> io::Result<Vec<u8>> {
        let end = (self.pos + CHUNK).min(self.size) - 1;
        let js = |e: wasm_bindgen::JsValue| io::Error::other(format!("{e:?}"));
        let xhr = XmlHttpRequest::new().map_err(js)?;
        xhr.open_with_async("GET", &self.url, false).map_err(js)?;
        // Allowed for synchronous requests in a worker (not on a page).
        xhr.set_response_type(XmlHttpRequestResponseType::Arraybuffer);
        xhr.set_request_header("Range", &format!("bytes={}-{end}", self.pos)).map_err(js)?;
        if let Some(value) = &self.authorization {
            xhr.set_request_header("Authorization", value).map_err(js)?;
        }
        xhr.send().map_err(|e| io::Error::other(format!("the request failed: {e:?}")))?;
        let status = xhr.status().map_err(js)?;
        let bytes = js_sys::Uint8Array::new(&xhr.response().map_err(js)?).to_vec();
        match status {
            206 => Ok(bytes),
            // A registry that ignores Range sends the whole blob: use the part not yet read.
            200 if bytes.len() as u64 == self.size => Ok(bytes.get(self.pos as usize..).unwrap_or_default().to_vec()),
            _ => {
                let said = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
                Err(io::Error::other(format!("the registry answered {status} to a range request: {}", said.trim())))
            }
        }
    }
}

impl Read for RangeRead<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.buf.len() {
            if self.pos >= self.size {
                return Ok(0);
            }
            self.buf = self.fetch()?;
            if self.buf.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the registry sent nothing at byte {}", self.pos),
                ));
            }
            self.at = 0;
            self.pos += self.buf.len() as u64;
            self.hasher.update(&self.buf);
            (self.on_fetched)(self.pos, self.size);
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
