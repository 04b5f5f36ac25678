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

pub struct Json {
    out: Box<dyn Write + Send>,
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
    /// Events written to `out` (stderr; a buffer in tests), a line each.
    pub fn new(out: Box<dyn Write + Send>) -> Json {
        Json { out, blobs: BTreeMap::new() }
    }

    fn write(&mut self, event: Value) {
        // A closed stderr is no reason to fail the transfer.
        let _ = writeln!(self.out, "{event}");
    }

    fn progress(&mut self, digest: &Digest, done: u64, total: u64) {
        self.write(json!({"event": "blob_progress", "digest": digest.as_str(), "done": done, "total": total}));
    }
}

impl Render for Json {
    fn message(&mut self, text: &str) {
        self.write(json!({"event": "message", "text": text}));
    }

    fn retry(&mut self, retry: &layerize_registry::transport::Retry) {
        self.write(
            json!({"event": "retry", "registry": retry.registry, "attempt": retry.attempt, "reason": retry.reason}),
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::tests::Buffer;

    fn lines(buffer: &Buffer) -> Vec<Value> {
        buffer.text().lines().map(|l| serde_json::from_str(l).expect("json")).collect()
    }

    #[test]
    fn progress_is_thinned_out_and_ends_at_the_size() {
        let buffer = Buffer::default();
        let mut json = Json::new(Box::new(buffer.clone()));
        let digest = Digest::sha256(b"blob");
        let total = 10 << 20;
        json.blob_started(&digest, total);
        for done in (1..=total / 4096).map(|n| n * 4096) {
            json.blob_moved(&digest, done, total);
        }
        json.blob_done(&digest, total, BlobOutcome::Uploaded);
        json.manifest(&digest, Some("1"));
        let events = lines(&buffer);
        let progress: Vec<u64> = events
            .iter()
            .filter(|e| e["event"] == "blob_progress")
            .map(|e| e["done"].as_u64().expect("done"))
            .collect();
        assert!((10..=11).contains(&progress.len()), "{progress:?}");
        assert_eq!(progress.last(), Some(&total));
        assert_eq!(events[0], json!({"event": "blob_start", "digest": digest.as_str(), "total": total}));
        let done = &events[events.len() - 2];
        assert_eq!(*done, json!({"event": "blob_done", "digest": digest.as_str(), "size": total, "outcome": "copied"}));
        assert_eq!(events[events.len() - 1], json!({"event": "manifest", "digest": digest.as_str(), "tag": "1"}));
    }

    #[test]
    fn the_last_bytes_are_told_before_the_blob_is_done() {
        let buffer = Buffer::default();
        let mut json = Json::new(Box::new(buffer.clone()));
        let digest = Digest::sha256(b"blob");
        json.blob_started(&digest, 100);
        // Both thinned out: within a MiB and a quarter second of the start.
        json.blob_moved(&digest, 10, 100);
        json.blob_moved(&digest, 60, 100);
        json.blob_done(&digest, 100, BlobOutcome::Uploaded);
        let done: Vec<u64> = lines(&buffer)
            .iter()
            .filter(|e| e["event"] == "blob_progress")
            .map(|e| e["done"].as_u64().expect("done"))
            .collect();
        assert_eq!(done, [60]);
    }
}
