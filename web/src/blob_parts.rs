//! Large results kept by the browser rather than in wasm memory: bytes are gathered into
//! 4 MiB parts, each made a `Blob` at once, and the parts joined into one `Blob` at the end.
//! The layer worker keeps a built layer this way, the page a downloaded layer and a tar it
//! saves without the File System Access API.

use std::io::{self, Write};

use wasm_bindgen::JsValue;
use web_sys::Blob;

/// Bytes per part: few enough parts, and little held in wasm memory at a time.
pub const PART: usize = 4 << 20;

/// A `Write` whose bytes end up in a browser `Blob`.
#[derive(Debug)]
pub struct BlobParts {
    parts: js_sys::Array,
    buf: Vec<u8>,
}

impl Default for BlobParts {
    fn default() -> BlobParts {
        BlobParts::new()
    }
}

impl BlobParts {
    pub fn new() -> BlobParts {
        BlobParts { parts: js_sys::Array::new(), buf: Vec::with_capacity(PART) }
    }

    /// Each part becomes a Blob at once: Chromium may keep large blobs on disk, while a list
    /// of typed arrays would stay on the JS heap until the end.
    fn flush_part(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let bytes = js_sys::Array::of1(&js_sys::Uint8Array::from(&self.buf[..]));
            let part = Blob::new_with_u8_array_sequence(&bytes)
                .map_err(|e| io::Error::other(format!("cannot make a Blob: {}", crate::js_error::js_text(&e))))?;
            self.parts.push(&part);
            self.buf.clear();
        }
        Ok(())
    }

    /// The whole content as one Blob.
    pub fn finish(mut self) -> Result<Blob, JsValue> {
        self.flush_part().map_err(|e| JsValue::from_str(&e.to_string()))?;
        Blob::new_with_blob_sequence(&self.parts)
    }
}

impl Write for BlobParts {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PART {
            self.flush_part()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
