//! The dropped files as the layer worker reads them: in pieces, several asked of the browser
//! ahead of the one being deflated. The browser reads a `Blob` on its own threads, so while
//! the worker compresses one piece the next ones arrive; a synchronous `FileReaderSync` read
//! would leave the worker idle for each piece instead (about a quarter of a build's time).
//! Pieces a share of the build does not need are never read (see the core's `layer::share`).

use std::collections::VecDeque;

use layerize_core::layer::share::{content_offsets, owns};
use layerize_core::layer::{Entry, EntryKind};
use layerize_core::Error;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, File};

use crate::js_error::js_text;

/// Bytes per piece: large enough that the browser's per-read cost is small.
const PIECE: u64 = 4 << 20;

/// Pieces asked for ahead of the one being used.
const AHEAD: usize = 4;

/// One piece of a file's content, in the order the layer needs it.
#[derive(Debug)]
pub enum Piece {
    Bytes(Vec<u8>),
    /// So many bytes this share does not need: not read.
    Skipped(u64),
}

/// Where a piece comes from.
#[derive(Debug)]
enum Planned {
    Read { entry: usize, file: Blob, from: u64, to: u64 },
    Skip(u64),
}

/// The pieces of every file entry, in order, read ahead.
#[derive(Debug)]
pub struct ReadAhead<'a, S> {
    entries: &'a [Entry<S>],
    planned: VecDeque<Planned>,
    asked: VecDeque<(usize, Result<JsFuture, String>, u64)>,
}

impl<'a> ReadAhead<'a, u32> {
    /// The pieces of `entries` (files numbered into `files`) that share `share` of a build
    /// needs (`(0, 1)`: all of them).
    pub fn new(entries: &'a [Entry<u32>], files: &[File], share: (u32, u32), mtime: u64) -> Result<Self, Error> {
        let offsets = if share.0 == 0 { vec![0; entries.len()] } else { content_offsets(entries, mtime)? };
        let mut planned = VecDeque::new();
        for (entry, (e, offset)) in entries.iter().zip(offsets).enumerate() {
            let EntryKind::File { size, source, .. } = &e.kind else { continue };
            let file: Blob =
                files.get(*source as usize).cloned().map(Into::into).ok_or_else(|| Error::LayerSource {
                    path: e.path.to_string(),
                    source: std::io::Error::other("the page sent no file for it"),
                })?;
            let mut from = 0;
            while from < *size {
                let to = (from + PIECE).min(*size);
                planned.push_back(if owns(share, offset + from, offset + to) {
                    Planned::Read { entry, file: file.clone(), from, to }
                } else {
                    Planned::Skip(to - from)
                });
                from = to;
            }
        }
        Ok(ReadAhead { entries, planned, asked: VecDeque::new() })
    }
}

impl<S> ReadAhead<'_, S> {
    /// The next piece; `None` after the last.
    pub async fn next(&mut self) -> Option<Result<Piece, Error>> {
        while self.asked.len() < AHEAD {
            match self.planned.pop_front() {
                Some(Planned::Read { entry, file, from, to }) => {
                    let read = file
                        .slice_with_f64_and_f64(from as f64, to as f64)
                        .map(|piece| JsFuture::from(piece.array_buffer()))
                        .map_err(|e| js_text(&e));
                    self.asked.push_back((entry, read, to - from));
                }
                Some(Planned::Skip(n)) if self.asked.is_empty() => return Some(Ok(Piece::Skipped(n))),
                Some(skip) => {
                    self.planned.push_front(skip);
                    break;
                }
                None => break,
            }
        }
        let (entry, read, len) = self.asked.pop_front()?;
        let failed = |message: String| Error::LayerSource {
            path: self.entries[entry].path.to_string(),
            source: std::io::Error::other(format!(
                "the browser could not read it ({message}); was it changed or removed?"
            )),
        };
        let buffer = match read {
            Ok(read) => read.await.map_err(|e| failed(js_text(&e))),
            Err(message) => Err(failed(message)),
        };
        Some(buffer.and_then(|buffer| {
            let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
            if bytes.len() as u64 == len {
                Ok(Piece::Bytes(bytes))
            } else {
                Err(failed(format!("{} bytes where {len} were expected", bytes.len())))
            }
        }))
    }
}
