//! A [`BlobWriter`] on threads of its own, fed chunks as they arrive.
//!
//! A pull runs its downloads on one async thread. SHA-256 is most of a pull's CPU (about 1.5
//! GB/s with SHA-NI, slower than loopback), and writing and the final `fdatasync` block; done
//! on that thread they would stall every download while they run. Here one thread hashes and
//! passes each chunk on to a second that writes it, so receiving, hashing and writing overlap,
//! and the blob lands (checked, synced, renamed) off the async thread.

use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::blob_writer::{check, BlobFile, BlobWriter};
use crate::error::Error;

/// Bytes gathered before they go to the threads: a network hands over chunks of 16 to 512
/// KiB, and waking two threads (and a write) for each costs more CPU than the hashing saves.
const BATCH: usize = 1 << 20;

/// Batches waiting for each thread: enough to ride out one falling behind for a moment, little
/// enough to keep memory flat with several blobs at once.
const QUEUE: usize = 4;

/// What the receiving side tells the hashing thread.
enum Message {
    Chunks(Vec<Bytes>),
    /// Everything was sent: check the digest and land the blob.
    Commit,
}

/// The receiving side: [`BlobThread::write`] each chunk, then [`BlobThread::commit`]. Dropped
/// without a commit, the threads write what they were given and stop, leaving the file as a
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
    /// Starts the threads that hash and write what `writer` was writing.
    pub fn start(writer: BlobWriter) -> Result<BlobThread, Error> {
        let (file, mut hasher, expected) = writer.into_parts();
        let dest = file.dest().to_owned();
        let (to_writer, writer_rx) = std_mpsc::sync_channel::<Vec<Bytes>>(QUEUE);
        let writing = spawn("blob writer", &dest, move || write_chunks(file, writer_rx))?;
        let (chunks, mut rx) = mpsc::channel::<Message>(QUEUE);
        let (tell, done) = oneshot::channel();
        let thread_dest = dest.clone();
        spawn("blob hasher", &dest, move || {
            let mut commit = false;
            while let Some(message) = rx.blocking_recv() {
                match message {
                    Message::Chunks(chunks) => {
                        for chunk in &chunks {
                            hasher.update(chunk);
                        }
                        if to_writer.send(chunks).is_err() {
                            // The writer stopped on an error; joining it gives the error.
                            break;
                        }
                    }
                    Message::Commit => {
                        commit = true;
                        break;
                    }
                }
            }
            drop(to_writer);
            let written = match writing.join() {
                Ok(written) => written,
                Err(_) => Err(stopped(&thread_dest)),
            };
            let outcome = match written {
                Ok(file) if commit => check(file, hasher, &expected),
                // The download failed: what was written stays as it is.
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            let _ = tell.send(outcome);
        })?;
        Ok(BlobThread { chunks, done, batch: Vec::new(), batched: 0, dest })
    }

    /// Takes `chunk`, handing a batch on when it is [`BATCH`] bytes (waiting while the hashing
    /// thread's queue is full).
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

    /// Checks the digest and lands the blob (on the threads, `fdatasync` included).
    pub async fn commit(mut self) -> Result<(), Error> {
        let batch = std::mem::take(&mut self.batch);
        self.send(Message::Chunks(batch)).await?;
        self.send(Message::Commit).await?;
        self.outcome().await
    }

    async fn send(&mut self, message: Message) -> Result<(), Error> {
        if self.chunks.send(message).await.is_err() {
            // The threads stopped on an error: that error is the one to give.
            return Err(self.outcome().await.err().unwrap_or_else(|| stopped(&self.dest)));
        }
        Ok(())
    }

    async fn outcome(&mut self) -> Result<(), Error> {
        (&mut self.done).await.unwrap_or_else(|_| Err(stopped(&self.dest)))
    }
}

/// The writing thread: every batch the hasher passes on, one system call each (as long as the
/// kernel takes it whole). Gives the file back once the hasher hangs up.
fn write_chunks(mut file: BlobFile, batches: std_mpsc::Receiver<Vec<Bytes>>) -> Result<BlobFile, Error> {
    while let Ok(mut batch) = batches.recv() {
        file.write_chunks(&mut batch).map_err(Error::io("writing", file.dest().to_owned()))?;
    }
    Ok(file)
}

fn spawn<T: Send + 'static>(
    name: &str,
    dest: &std::path::Path,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, Error> {
    std::thread::Builder::new().name(name.into()).spawn(work).map_err(Error::io("starting a thread to write", dest))
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
