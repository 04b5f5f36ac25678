//! The bytes of a transfer: what is in flight, what moved, what is left and how fast.

use std::time::{Duration, Instant};

use layerize_core::Digest;
use layerize_registry::BlobOutcome;

/// Counts for the overall bar and the summary lines. Blobs a sink already had (or mounted)
/// move no bytes, so they leave the expected total instead of adding to what moved: the rate
/// and the time left stay about bytes that travel.
#[derive(Debug)]
pub struct Tally {
    since: Instant,
    /// Bytes still to move in all, once a plan has said (load and append put blobs of plans
    /// they make as they go, so they have none).
    expected: Option<u64>,
    /// Bytes of the blobs that finished moving.
    finished: u64,
    in_flight: Vec<InFlight>,
}

#[derive(Debug)]
struct InFlight {
    digest: Digest,
    done: u64,
}

impl Tally {
    pub fn new() -> Tally {
        Tally { since: Instant::now(), expected: None, finished: 0, in_flight: Vec::new() }
    }

    /// A plan of `blob_bytes` starts: counted from now.
    pub fn begin(&mut self, blob_bytes: u64) {
        *self = Tally { expected: Some(blob_bytes), ..Tally::new() };
    }

    pub fn started(&mut self, digest: &Digest) {
        if !self.in_flight.iter().any(|b| &b.digest == digest) {
            self.in_flight.push(InFlight { digest: digest.clone(), done: 0 });
        }
    }

    /// `done` is cumulative; it may go down (an upload that had to start again).
    pub fn moved(&mut self, digest: &Digest, done: u64) {
        match self.in_flight.iter_mut().find(|b| &b.digest == digest) {
            Some(blob) => blob.done = done,
            None => self.in_flight.push(InFlight { digest: digest.clone(), done }),
        }
    }

    pub fn done(&mut self, digest: &Digest, size: u64, outcome: BlobOutcome) {
        self.in_flight.retain(|b| &b.digest != digest);
        match outcome {
            BlobOutcome::Uploaded => self.finished += size,
            BlobOutcome::AlreadyThere | BlobOutcome::Mounted => {
                self.expected = self.expected.map(|e| e.saturating_sub(size));
            }
        }
    }

    /// Bytes moved so far, of finished blobs and of those in flight.
    pub fn moved_bytes(&self) -> u64 {
        self.finished + self.in_flight.iter().map(|b| b.done).sum::<u64>()
    }

    /// Bytes to move in all, if known (never less than what moved).
    pub fn expected(&self) -> Option<u64> {
        self.expected.map(|e| e.max(self.moved_bytes()))
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    pub fn elapsed(&self) -> Duration {
        self.since.elapsed()
    }

    /// Bytes per second since the start.
    pub fn rate(&self) -> u64 {
        let seconds = self.elapsed().as_secs_f64();
        if seconds <= 0.0 {
            return 0;
        }
        (self.moved_bytes() as f64 / seconds) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        Digest::sha256(&[n])
    }

    #[test]
    fn blobs_in_place_leave_the_total_and_moved_blobs_add_up() {
        let mut tally = Tally::new();
        tally.begin(100);
        tally.started(&digest(1));
        tally.moved(&digest(1), 30);
        assert_eq!(tally.moved_bytes(), 30);
        tally.done(&digest(2), 50, BlobOutcome::AlreadyThere);
        assert_eq!(tally.expected(), Some(50));
        tally.moved(&digest(1), 10); // started again
        assert_eq!(tally.moved_bytes(), 10);
        tally.done(&digest(1), 50, BlobOutcome::Uploaded);
        assert_eq!((tally.moved_bytes(), tally.expected(), tally.in_flight()), (50, Some(50), 0));
    }

    #[test]
    fn without_a_plan_there_is_no_total() {
        let mut tally = Tally::new();
        tally.moved(&digest(1), 7);
        assert_eq!((tally.moved_bytes(), tally.expected()), (7, None));
    }
}
