//! A [`BlobWriter`] on a thread of its own, fed chunks as they arrive.
//!
//! A pull runs its downloads on one async thread. SHA-256 is most of a pull's CPU (about 1.5
//! GB/s with SHA-NI, no faster than loopback), and writing and the final `fdatasync` block;
//! done on that thread they would stall every download while they run. On a thread per blob,
//! receiving overlaps hashing and writing, blobs hash on every core, and a blob lands (checked,
//! synced, renamed) off the async thread. (A third thread to write while the second hashes
//! was tried: its wake-ups cost more CPU than it saved on 2 cores.)

use std::path::PathBuf;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::layout::BlobWriter;

/// Bytes gathered before they go to the thread: a network hands over chunks of 16 to 512 KiB,
/// and a wake-up and a write for each cost more CPU than a wake-up and one `writev` per MiB.
const BATCH: usize = 1 << 20;

/// Batches waiting for the thread: enough to ride out a write or a hash falling behind for a
/// moment, little enough to keep memory flat with several blobs at once.
const QUEUE: usize = 4;

/// What the receiving side tells the thread.
enum Message {
    Chunks(Vec<Bytes>),
    /// Everything was sent: check the digest and land the blob.
    Commit,
}

/// The receiving side: [`BlobThread::write`] each chunk, then [`BlobThread::commit`]. Dropped
/// without a commit, the thread writes what it was handed and stops, leaving the file as a
/// [`BlobWriter`] dropped uncommitted would (a partial download stays for the next run; a
/// temp file is removed).
pub struct BlobThread {
    chunks: mpsc::Sender<Message>,
    done: oneshot::Receiver<Result<(), Error>>,
    /// Chunks not yet handed on, and their bytes.
    batch: Vec<Bytes>,
    batched: usize,
    /// Named in errors.
    dest: PathBuf,
}

impl BlobThread {
    /// Starts the thread that hashes and writes what `writer` was writing.
    pub fn start(mut writer: BlobWriter) -> Result<BlobThread, Error> {
        let dest = writer.dest().to_owned();
        let (chunks, mut rx) = mpsc::channel::<Message>(QUEUE);
        let (tell, done) = oneshot::channel();
        let thread_dest = dest.clone();
        std::thread::Builder::new()
            .name("blob writer".into())
            .spawn(move || {
                let outcome = loop {
                    match rx.blocking_recv() {
                        Some(Message::Chunks(mut batch)) => {
                            if let Err(e) = writer.write_chunks(&mut batch) {
                                break Err(Error::io("writing", &thread_dest)(e));
                            }
                        }
                        Some(Message::Commit) => break writer.commit(),
                        // The download failed: what was written stays as it is.
                        None => break Ok(()),
                    }
                };
                let _ = tell.send(outcome);
            })
            .map_err(Error::io("starting a thread to write", &dest))?;
        Ok(BlobThread { chunks, done, batch: Vec::new(), batched: 0, dest })
    }

    /// Takes `chunk`, handing a batch on when it is [`BATCH`] bytes (waiting while the thread's
    /// queue is full).
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), Error> {
        self.batched += chunk.len();
        self.batch.push(chunk);
        if self.batched >= BATCH {
            self.batched = 0;
            let batch = std::mem::take(&mut self.batch);
            self.send(Message::Chunks(batch)).await?;
        }
        Ok(())
    }

    /// Checks the digest and lands the blob (on the thread, `fdatasync` included).
    pub async fn commit(mut self) -> Result<(), Error> {
        let batch = std::mem::take(&mut self.batch);
        self.send(Message::Chunks(batch)).await?;
        self.send(Message::Commit).await?;
        self.outcome().await
    }

    async fn send(&mut self, message: Message) -> Result<(), Error> {
        if self.chunks.send(message).await.is_err() {
            // The thread stopped on an error: that error is the one to give.
            return Err(self.outcome().await.err().unwrap_or_else(|| stopped(&self.dest)));
        }
        Ok(())
    }

    async fn outcome(&mut self) -> Result<(), Error> {
        (&mut self.done).await.unwrap_or_else(|_| Err(stopped(&self.dest)))
    }
}

fn stopped(dest: &std::path::Path) -> Error {
    Error::io("writing", dest)(std::io::Error::other("the thread writing the blob stopped"))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::{Duration, Instant};

    use layerize_core::Digest;

    use super::*;
    use crate::layout::Layout;

    fn run<T>(work: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(work)
    }

    /// 3 MiB in network-sized chunks: several batches, and a last one that is not full.
    fn bytes() -> Vec<u8> {
        (0..3 << 20).map(|i: u32| (i % 251) as u8).collect()
    }

    async fn send(thread: &mut BlobThread, bytes: &[u8]) -> Result<(), Error> {
        for chunk in bytes.chunks(100_000) {
            thread.write(Bytes::copy_from_slice(chunk)).await?;
        }
        Ok(())
    }

    #[test]
    fn a_blob_lands_whole_and_only_if_it_matches_its_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::open_or_create(&dir.path().join("store")).expect("create");
        let bytes = bytes();
        let digest = Digest::sha256(&bytes);
        run(async {
            let mut thread = BlobThread::start(layout.blob_writer(&digest)?)?;
            send(&mut thread, &bytes).await?;
            thread.commit().await
        })
        .expect("commit");
        assert!(fs::read(layout.blob_path(&digest)).expect("read") == bytes);

        let other = Digest::sha256(b"other");
        let err = run(async {
            let mut thread = BlobThread::start(layout.blob_writer(&other)?)?;
            send(&mut thread, &bytes).await?;
            thread.commit().await
        })
        .expect_err("mismatch");
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(!layout.blob_path(&other).exists());
        assert_eq!(fs::read_dir(dir.path().join("store/.layerize/tmp")).expect("tmp").count(), 0);
    }

    #[test]
    fn a_download_given_up_part_way_leaves_what_was_handed_on_for_the_next_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::open_or_create(&dir.path().join("store")).expect("create");
        let bytes = bytes();
        let digest = Digest::sha256(&bytes);
        let cut = 1_500_000;
        run(async {
            let mut thread = BlobThread::start(layout.partial_writer(&digest)?)?;
            send(&mut thread, &bytes[..cut]).await
        })
        .expect("first part");
        // The threads finish on their own; the partial is free once they have.
        let handed_on = 1_100_000;
        let deadline = Instant::now() + Duration::from_secs(10);
        let writer = loop {
            let writer = layout.partial_writer(&digest).expect("partial");
            if writer.size() == handed_on as u64 || Instant::now() > deadline {
                break writer;
            }
            drop(writer);
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(writer.size(), handed_on as u64);
        run(async {
            let mut thread = BlobThread::start(writer)?;
            send(&mut thread, &bytes[handed_on..]).await?;
            thread.commit().await
        })
        .expect("rest");
        assert!(fs::read(layout.blob_path(&digest)).expect("read") == bytes);
        assert!(!layout.partial_path(&digest).exists());
    }
}
