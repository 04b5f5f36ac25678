//! Plain lines, for logs: one per blob started and finished, and a summary every few seconds
//! while bytes move (written when they do, never by a timer of its own).

use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::HumanBytes;
use layerize_core::Digest;
use layerize_registry::BlobOutcome;

use super::tally::Tally;
use super::{blob_done_line, manifest_line, Render};

/// At most one summary line this often.
const SUMMARY_EVERY: Duration = Duration::from_secs(5);

pub struct Plain {
    out: Box<dyn Write + Send>,
    tally: Tally,
    last_summary: Instant,
}

impl Plain {
    /// Lines written to `out` (stderr; a buffer in tests).
    pub fn new(out: Box<dyn Write + Send>) -> Plain {
        Plain { out, tally: Tally::new(), last_summary: Instant::now() }
    }

    fn line(&mut self, text: &str) {
        // A closed stderr is no reason to fail the transfer.
        let _ = writeln!(self.out, "{text}");
    }

    fn summary(&self) -> String {
        let moved = HumanBytes(self.tally.moved_bytes());
        let rate = HumanBytes(self.tally.rate());
        let of = self.tally.expected().map(|e| format!(" of {}", HumanBytes(e))).unwrap_or_default();
        format!("moved {moved}{of} ({rate}/s), blobs in flight: {}", self.tally.in_flight())
    }
}

impl Render for Plain {
    fn message(&mut self, text: &str) {
        self.line(text);
    }

    fn begin(&mut self, blob_bytes: u64) {
        self.tally.begin(blob_bytes);
        self.last_summary = Instant::now();
    }

    fn blob_started(&mut self, digest: &Digest, total: u64) {
        self.tally.started(digest);
        self.line(&format!("blob {digest}: started ({total} bytes)"));
    }

    fn blob_moved(&mut self, digest: &Digest, done: u64, _total: u64) {
        self.tally.moved(digest, done);
        if self.last_summary.elapsed() >= SUMMARY_EVERY {
            self.last_summary = Instant::now();
            let summary = self.summary();
            self.line(&summary);
        }
    }

    fn blob_done(&mut self, digest: &Digest, size: u64, outcome: BlobOutcome) {
        self.tally.done(digest, size, outcome);
        self.line(&blob_done_line(digest, size, outcome));
    }

    fn manifest(&mut self, digest: &Digest, tag: Option<&str>) {
        self.line(&manifest_line(digest, tag));
    }

    fn end(&mut self) {
        let moved = self.tally.moved_bytes();
        if moved > 0 {
            let took = self.tally.elapsed().as_secs_f64();
            let rate = HumanBytes(self.tally.rate());
            self.line(&format!("moved {} in {took:.1} s ({rate}/s)", HumanBytes(moved)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::tests::Buffer;

    #[test]
    fn a_line_per_blob_and_a_summary_at_most_every_few_seconds() {
        let buffer = Buffer::default();
        let mut plain = Plain::new(Box::new(buffer.clone()));
        let digest = Digest::sha256(b"blob");
        plain.begin(3 << 20);
        plain.blob_started(&digest, 2 << 20);
        plain.blob_moved(&digest, 1 << 20, 2 << 20); // too soon for a summary
        plain.last_summary -= SUMMARY_EVERY;
        plain.blob_moved(&digest, 1 << 20, 2 << 20);
        plain.blob_moved(&digest, 2 << 20, 2 << 20); // too soon again
        plain.blob_done(&digest, 2 << 20, BlobOutcome::Uploaded);
        plain.blob_done(&Digest::sha256(b"there"), 1 << 20, BlobOutcome::AlreadyThere);
        let text = buffer.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("blob {digest}: started (2097152 bytes)"));
        assert!(lines[1].starts_with("moved 1.00 MiB of 3.00 MiB ("), "{}", lines[1]);
        assert!(lines[1].ends_with("/s), blobs in flight: 1"), "{}", lines[1]);
        assert_eq!(lines[2], format!("blob {digest}: copied (2097152 bytes)"));
        assert_eq!(lines[3], format!("blob {}: already there (1048576 bytes)", Digest::sha256(b"there")));
        assert_eq!(lines.len(), 4, "{text}");
    }
}
