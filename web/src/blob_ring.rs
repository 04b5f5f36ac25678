//! A blob handed from a fetching worker to a reading worker through a `SharedArrayBuffer`
//! ring. The core's layer reader pulls bytes synchronously, and a worker that waits on a
//! synchronous request cannot also be downloading; so one worker streams the download
//! (`fetch`, hashing as it goes) into the ring while the other blocks on `Atomics.wait` only
//! when the ring is empty. Fetching, hashing and inflating then overlap on separate cores.
//!
//! Layout: eight `i32` control words, an info area (the digest, or an error message), then
//! the data area. Counters wrap (`u32` arithmetic), which is safe while the ring holds less
//! than 2 GiB. Every change the reader may be waiting for bumps `SEQ` after it is made, and
//! the reader waits on the `SEQ` value it read before looking, so no wake-up is lost.

use std::io::{self, Read};

use js_sys::{Atomics, Int32Array, SharedArrayBuffer, Uint8Array};
use layerize_registry::transport::proxy::BlobCheck;

/// Bytes in the data area: enough to keep the network ahead of the reader.
const CAPACITY: u32 = 16 << 20;
/// Control words.
const SEQ: u32 = 0;
const WRITTEN: u32 = 1;
const CONSUMED: u32 = 2;
const STATE: u32 = 3;
const INFO_LEN: u32 = 4;
const TOTAL_LO: u32 = 5;
const TOTAL_HI: u32 = 6;
const CONTROL_BYTES: u32 = 32;
const INFO_BYTES: u32 = 1024;
const DATA_AT: u32 = CONTROL_BYTES + INFO_BYTES;

const RUNNING: i32 = 0;
const DONE: i32 = 1;
const FAILED: i32 = 2;

/// How long the reader waits for the next bytes before it gives up on the fetching worker.
const STALL_MS: f64 = 120_000.0;
/// Bytes the reader takes out of the ring at once (few calls into JS).
const TAKE: usize = 1 << 20;

/// True when the page may share memory between workers (it is served with COOP/COEP over
/// a secure origin): only then can a ring be made.
pub fn available() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &"crossOriginIsolated".into()).map(|v| v.is_truthy()).unwrap_or(false)
}

/// A new, empty ring to pass to both workers.
pub fn new_ring() -> SharedArrayBuffer {
    SharedArrayBuffer::new(DATA_AT + CAPACITY)
}

struct Views {
    control: Int32Array,
    info: Uint8Array,
    data: Uint8Array,
}

impl Views {
    fn of(ring: &SharedArrayBuffer) -> Views {
        Views {
            control: Int32Array::new_with_byte_offset_and_length(ring, 0, CONTROL_BYTES / 4),
            info: Uint8Array::new_with_byte_offset_and_length(ring, CONTROL_BYTES, INFO_BYTES),
            data: Uint8Array::new_with_byte_offset_and_length(ring, DATA_AT, CAPACITY),
        }
    }

    fn load(&self, word: u32) -> u32 {
        Atomics::load(&self.control, word).unwrap_or(0) as u32
    }

    fn store(&self, word: u32, value: u32) {
        let _ = Atomics::store(&self.control, word, value as i32);
    }

    fn wake(&self, word: u32) {
        let _ = Atomics::notify(&self.control, word);
    }

    /// Tells the reader something it may wait for has changed (bytes in, or the end).
    fn announce(&self) {
        let _ = Atomics::add(&self.control, SEQ, 1);
        self.wake(SEQ);
    }

    /// Ends the stream with `state` and `info`; wakes the reader.
    fn end(&self, state: i32, info: &str, total: u64) {
        let bytes = &info.as_bytes()[..info.len().min(INFO_BYTES as usize)];
        self.info.subarray(0, bytes.len() as u32).copy_from(bytes);
        self.store(INFO_LEN, bytes.len() as u32);
        self.store(TOTAL_LO, total as u32);
        self.store(TOTAL_HI, (total >> 32) as u32);
        let _ = Atomics::store(&self.control, STATE, state);
        self.announce();
    }

    fn info(&self) -> String {
        let len = self.load(INFO_LEN).min(INFO_BYTES);
        let mut bytes = vec![0; len as usize];
        self.info.subarray(0, len).copy_to(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The info area of a finished ring: the check as JSON (an enum, so a vouched digest can never
/// be read back as a computed one).
fn encode_check(check: &BlobCheck) -> String {
    serde_json::to_string(check).unwrap_or_default()
}

fn decode_check(info: &str) -> Result<BlobCheck, serde_json::Error> {
    serde_json::from_str(info)
}

/// The fetching worker's end.
pub struct RingWriter {
    views: Views,
    written: u32,
    total: u64,
}

impl std::fmt::Debug for RingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingWriter").field("total", &self.total).finish_non_exhaustive()
    }
}

impl RingWriter {
    pub fn new(ring: &SharedArrayBuffer) -> RingWriter {
        RingWriter { views: Views::of(ring), written: 0, total: 0 }
    }

    /// Copies `chunk` in, waiting (blocking this worker) while the ring is full.
    pub fn write(&mut self, chunk: &Uint8Array) {
        let len = chunk.length();
        let mut done = 0;
        while done < len {
            let consumed = self.views.load(CONSUMED);
            let free = CAPACITY - self.written.wrapping_sub(consumed);
            if free == 0 {
                let _ = Atomics::wait(&self.views.control, CONSUMED, consumed as i32);
                continue;
            }
            let at = self.written % CAPACITY;
            let n = free.min(len - done).min(CAPACITY - at);
            self.views.data.set(&chunk.subarray(done, done + n), at);
            done += n;
            self.written = self.written.wrapping_add(n);
            self.views.store(WRITTEN, self.written);
            self.views.announce();
        }
        self.total += u64::from(len);
    }

    /// Ends the blob: every byte is in, and `check` says how they were held to their digest.
    pub fn finish(self, check: &BlobCheck) {
        self.views.end(DONE, &encode_check(check), self.total);
    }

    /// Ends the blob with an error the reader reports.
    pub fn fail(self, message: &str) {
        self.views.end(FAILED, message, self.total);
    }
}

/// The reading worker's end: a `Read` that blocks until bytes arrive.
pub struct RingRead {
    views: Views,
    consumed: u32,
    buf: Vec<u8>,
    at: usize,
    /// Bytes handed to the reader so far.
    pos: u64,
}

impl std::fmt::Debug for RingRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingRead").field("pos", &self.pos).finish_non_exhaustive()
    }
}

impl RingRead {
    pub fn new(ring: &SharedArrayBuffer) -> RingRead {
        RingRead { views: Views::of(ring), consumed: 0, buf: Vec::with_capacity(TAKE), at: 0, pos: 0 }
    }

    /// Bytes read so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Reads what the caller left unread; returns how the fetching worker held everything it
    /// received to its digest, and its length.
    pub fn finish(mut self) -> io::Result<(BlobCheck, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let total = u64::from(self.views.load(TOTAL_LO)) | (u64::from(self.views.load(TOTAL_HI)) << 32);
        let check = decode_check(&self.views.info())
            .map_err(|e| io::Error::other(format!("the fetch ended without a digest: {e}")))?;
        Ok((check, total))
    }

    /// Refills `buf` from the ring; false at the end of the blob.
    fn refill(&mut self) -> io::Result<bool> {
        loop {
            let seq = self.views.load(SEQ);
            let written = self.views.load(WRITTEN);
            let ready = written.wrapping_sub(self.consumed);
            if ready > 0 {
                let at = self.consumed % CAPACITY;
                let n = ready.min(TAKE as u32).min(CAPACITY - at);
                self.buf.resize(n as usize, 0);
                self.views.data.subarray(at, at + n).copy_to(&mut self.buf);
                self.at = 0;
                self.consumed = self.consumed.wrapping_add(n);
                self.views.store(CONSUMED, self.consumed);
                self.views.wake(CONSUMED);
                return Ok(true);
            }
            match Atomics::load(&self.views.control, STATE).unwrap_or(FAILED) {
                RUNNING => {}
                DONE => return Ok(false),
                _ => return Err(io::Error::other(self.views.info())),
            }
            let waited = Atomics::wait_with_timeout(&self.views.control, SEQ, seq as i32, STALL_MS);
            if waited.ok().and_then(|w| w.as_string()).as_deref() == Some("timed-out") {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no bytes arrived for {} s at byte {}", STALL_MS / 1000.0, self.pos),
                ));
            }
        }
    }
}

impl Read for RingRead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.buf.len() && !self.refill()? {
            return Ok(0);
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        self.pos += n as u64;
        Ok(n)
    }
}
