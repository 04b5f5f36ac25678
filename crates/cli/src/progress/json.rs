//! JSON lines, for tools: one object per event on stderr, `blob_progress` thinned out to one
//! per MiB or quarter second per blob (and always the last bytes before `blob_done`).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use layerize_core::Digest;
use layerize_registry::BlobOutcome;
use serde_json::{json, Value};

use super::Render;

/// A blob's progress is written again once this many more bytes moved...
const EVERY_BYTES: u64 = 1 << 20;
/// ...or this much time passed.
const EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
pub struct Json {
    blobs: BTreeMap<Digest, Written>,
}

/// What was last written of a blob's progress, and what is known.
#[derive(Debug)]
struct Written {
    done: u64,
    at: Instant,
    seen: u64,
    total: u64,
}

impl Json {
    pub fn new() -> Json {
        Json::default()
    }

    fn write(&self, event: Value) {
        // A closed stderr is no reason to fail the transfer.
        let _ = writeln!(std::io::stderr().lock(), "{event}");
    }

    fn progress(&self, digest: &Digest, done: u64, total: u64) {
        self.write(json!({"event": "blob_progress", "digest": digest.as_str(), "done": done, "total": total}));
    }
}

impl Render for Json {
    fn message(&mut self, text: &str) {
        self.write(json!({"event": "message", "text": text}));
    }

    fn begin(&mut self, _blob_bytes: u64) {}

    fn blob_started(&mut self, digest: &Digest, total: u64) {
        self.blobs.insert(digest.clone(), Written { done: 0, at: Instant::now(), seen: 0, total });
        self.write(json!({"event": "blob_start", "digest": digest.as_str(), "total": total}));
    }

    fn blob_moved(&mut self, digest: &Digest, done: u64, total: u64) {
        let now = Instant::now();
        let written = self.blobs.entry(digest.clone()).or_insert(Written { done: 0, at: now, seen: 0, total });
        written.seen = done;
        // Less than before: the transfer started again, which is worth telling at once.
        let due = done.abs_diff(written.done) >= EVERY_BYTES
            || now.duration_since(written.at) >= EVERY
            || done == total
            || done < written.done;
        if due {
            written.done = done;
            written.at = now;
            self.progress(digest, done, total);
        }
    }

    fn blob_done(&mut self, digest: &Digest, size: u64, outcome: BlobOutcome) {
        if let Some(written) = self.blobs.remove(digest) {
            if written.seen != written.done {
                self.progress(digest, written.seen, written.total);
            }
        }
        let outcome = match outcome {
            BlobOutcome::AlreadyThere => "already_there",
            BlobOutcome::Mounted => "mounted",
            BlobOutcome::Uploaded => "copied",
        };
        self.write(json!({"event": "blob_done", "digest": digest.as_str(), "size": size, "outcome": outcome}));
    }

    fn manifest(&mut self, digest: &Digest, tag: Option<&str>) {
        self.write(json!({"event": "manifest", "digest": digest.as_str(), "tag": tag}));
    }

    fn end(&mut self) {}
}
