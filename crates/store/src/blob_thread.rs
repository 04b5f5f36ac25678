//! A [`BlobWriter`] on a thread of its own, fed chunks as they arrive.
//!
//! A pull runs its downloads on one async thread. Hashing (SHA-256 is most of a pull's CPU),
//! writing and the final `fdatasync` there would stall every download while they run; on a
//! thread per blob they overlap the network and each other (a layer per core).

use std::io::Write;
use std::path::PathBuf;
use std::thread::JoinHandle;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::layout::BlobWriter;

/// Chunks waiting for the thread (a network chunk is 16 KiB to 512 KiB): enough to ride out a
/// write or a hash falling behind for a moment, little enough to keep memory flat.
const QUEUE: usize = 16;

/// What the receiving side tells the thread.
enum Message {
    Chunk(Bytes),
    /// Everything was sent: check the digest and rename the blob into place.
    Commit,
}

/// The sending half: [`BlobThread::write`] each chunk, then [`BlobThread::commit`]. Dropped
/// without a commit, the thread stops and what it wrote stays as the writer leaves it (a
/// partial download is continued by the next run; a temp file is removed).
pub struct BlobThread {
    chunks: mpsc::Sender<Message>,
    done: oneshot::Receiver<Result<(), Error>>,
    thread: Option<JoinHandle<()>>,
    /// Named in errors.
    path: PathBuf,
}

impl BlobThread {
    /// Starts the thread that writes through `writer`; `path` names the blob in errors.
    pub fn start(writer: BlobWriter, path: PathBuf) -> Result<BlobThread, Error> {
        let (chunks, mut rx) = mpsc::channel::<Message>(QUEUE);
        let (tell, done) = oneshot::channel();
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("blob writer".into())
            .spawn(move || {
                let mut writer = writer;
                let outcome = loop {
                    match rx.blocking_recv() {
                        Some(Message::Chunk(chunk)) => {
                            if let Err(e) = writer.write_all(&chunk) {
                                break Err(Error::io("writing", &thread_path)(e));
                            }
                        }
                        Some(Message::Commit) => break writer.commit(),
                        // The sender gave up (the download failed): keep what was written.
                        None => break writer.flush().map_err(Error::io("writing", &thread_path)),
                    }
                };
                let _ = tell.send(outcome);
            })
            .map_err(Error::io("starting a thread to write", &path))?;
        Ok(BlobThread { chunks, done, thread: Some(thread), path })
    }

    /// Hands `chunk` to the thread, waiting while its queue is full.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), Error> {
        if self.chunks.send(Message::Chunk(chunk)).await.is_err() {
            // The thread stopped on an error: that error is the one to give.
            return Err(self.outcome().await.err().unwrap_or_else(|| self.stopped()));
        }
        Ok(())
    }

    /// Checks the digest and renames the blob into place (on the thread, `fdatasync` included).
    pub async fn commit(mut self) -> Result<(), Error> {
        if self.chunks.send(Message::Commit).await.is_err() {
            return Err(self.outcome().await.err().unwrap_or_else(|| self.stopped()));
        }
        self.outcome().await
    }

    async fn outcome(&mut self) -> Result<(), Error> {
        let outcome = (&mut self.done).await.unwrap_or_else(|_| Err(self.stopped()));
        if let Some(thread) = self.thread.take() {
            // It has sent its outcome, so it is ending: the join does not wait.
            let _ = thread.join();
        }
        outcome
    }

    fn stopped(&self) -> Error {
        Error::io("writing", &self.path)(std::io::Error::other("the blob writer's thread stopped"))
    }
}
