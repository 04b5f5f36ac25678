//! Spreads a gzip profile's independent blocks over all cores (the pinned one for layers the
//! CLI builds, the fast one for plain layers `load` gzips on the way). Output is byte for byte
//! that of `layerize_core::layer::gzip::Sequential`, because each block is compressed by the
//! same pure function and written in submission order.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use layerize_core::layer::gzip::{deflate_block, Deflate, Profile};

type Job = (u64, Vec<u8>, bool, Profile);
type Done = (u64, io::Result<Vec<u8>>);

/// A pool of deflate workers with a bounded number of blocks in flight (memory stays at a
/// few blocks per worker whatever the layer size).
#[derive(Debug)]
pub struct Parallel {
    jobs: Option<Sender<Job>>,
    results: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    submitted: u64,
    written: u64,
    ready: BTreeMap<u64, io::Result<Vec<u8>>>,
    max_in_flight: u64,
}

impl Parallel {
    pub fn new(threads: usize) -> Parallel {
        let threads = threads.max(1);
        let (jobs, job_rx) = channel::<Job>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, results) = channel::<Done>();
        let workers = (0..threads)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let done_tx = done_tx.clone();
                std::thread::spawn(move || loop {
                    let job = job_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((seq, block, last, profile))) = job else { return };
                    if done_tx.send((seq, deflate_block(&block, last, profile))).is_err() {
                        return;
                    }
                })
            })
            .collect();
        Parallel {
            jobs: Some(jobs),
            results,
            workers,
            submitted: 0,
            written: 0,
            ready: BTreeMap::new(),
            max_in_flight: 2 * threads as u64 + 1,
        }
    }

    /// One worker per core.
    pub fn for_this_machine() -> Parallel {
        Parallel::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
    }

    fn collect_one(&mut self) -> io::Result<()> {
        let (seq, block) = self.results.recv().map_err(|_| io::Error::other("a deflate worker stopped"))?;
        self.ready.insert(seq, block);
        Ok(())
    }

    fn write_ready(&mut self, out: &mut dyn Write) -> io::Result<()> {
        while let Some(block) = self.ready.remove(&self.written) {
            out.write_all(&block?)?;
            self.written += 1;
        }
        Ok(())
    }
}

impl Deflate for Parallel {
    fn submit(&mut self, block: Vec<u8>, last: bool, profile: Profile, out: &mut dyn Write) -> io::Result<()> {
        let jobs = self.jobs.as_ref().ok_or_else(|| io::Error::other("deflate pool already finished"))?;
        jobs.send((self.submitted, block, last, profile)).map_err(|_| io::Error::other("deflate workers stopped"))?;
        self.submitted += 1;
        while let Ok((seq, block)) = self.results.try_recv() {
            self.ready.insert(seq, block);
        }
        self.write_ready(out)?;
        while self.submitted - self.written >= self.max_in_flight {
            self.collect_one()?;
            self.write_ready(out)?;
        }
        Ok(())
    }

    fn drain(&mut self, out: &mut dyn Write) -> io::Result<()> {
        while self.written < self.submitted {
            self.collect_one()?;
            self.write_ready(out)?;
        }
        Ok(())
    }
}

impl Drop for Parallel {
    fn drop(&mut self) {
        self.jobs.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use layerize_core::layer::gzip::{GzipWriter, Sequential, BLOCK_SIZE};

    #[test]
    fn parallel_bytes_equal_sequential_bytes() {
        // Noise then text, so the fast profile stores some blocks and deflates others.
        let noise = (0..(3 * BLOCK_SIZE + 123) as u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8);
        let text = b"the quick brown fox jumps over the lazy dog\n".iter().copied().cycle().take(2 * BLOCK_SIZE);
        let data: Vec<u8> = noise.chain(text).collect();
        for profile in [Profile::Pinned1, Profile::Pinned2, Profile::Fast] {
            let expected = gzip(&data, Sequential, profile);
            for threads in [1, 2, 3] {
                assert_eq!(gzip(&data, Parallel::new(threads), profile), expected, "{profile:?}, {threads} threads");
            }
        }
    }

    fn gzip(data: &[u8], deflate: impl Deflate, profile: Profile) -> Vec<u8> {
        let mut w = GzipWriter::with_profile(Vec::new(), deflate, profile).unwrap();
        for chunk in data.chunks(100_000) {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap()
    }
}
