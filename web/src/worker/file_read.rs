//! An opened image tar, or a blob to hash, read synchronously in slices with `FileReaderSync`: never
//! the whole file in wasm memory.

use std::io::{self, Read, Seek, SeekFrom};

use web_sys::{Blob, FileReaderSync};

use crate::js_error::js_text;

/// Bytes per read.
const CHUNK: f64 = (1 << 20) as f64;

/// A Blob read in slices.
pub struct FileRead {
    blob: Blob,
    size: f64,
    pos: f64,
    reader: FileReaderSync,
    buf: Vec<u8>,
    at: usize,
}

impl FileRead {
    pub fn new(blob: Blob, reader: FileReaderSync) -> FileRead {
        FileRead { size: blob.size(), blob, pos: 0.0, reader, buf: Vec::new(), at: 0 }
    }
}

impl std::fmt::Debug for FileRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRead").field("size", &self.size).field("pos", &self.pos).finish_non_exhaustive()
    }
}

impl Read for FileRead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.buf.len() {
            if self.pos >= self.size {
                return Ok(0);
            }
            let end = (self.pos + CHUNK).min(self.size);
            let slice = self.blob.slice_with_f64_and_f64(self.pos, end).map_err(|e| io::Error::other(js_text(&e)))?;
            let array = self.reader.read_as_array_buffer(&slice).map_err(|e| io::Error::other(js_text(&e)))?;
            self.buf = js_sys::Uint8Array::new(&array).to_vec();
            self.at = 0;
            self.pos = end;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// An opened image tar is read by offset (the core indexes where its members lie, then reads
/// the small ones), and a later layer share seeks past the blocks it does not deflate. A seek
/// inside the slice already read reuses it.
impl Seek for FileRead {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let start = self.pos - self.buf.len() as f64;
        let current = start + self.at as f64;
        let target = match to {
            SeekFrom::Start(n) => n as f64,
            SeekFrom::End(d) => self.size + d as f64,
            SeekFrom::Current(d) => current + d as f64,
        };
        if target < 0.0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the file"));
        }
        if target >= start && target <= self.pos {
            self.at = (target - start) as usize;
        } else {
            self.pos = target;
            self.buf.clear();
            self.at = 0;
        }
        Ok(target as u64)
    }
}
