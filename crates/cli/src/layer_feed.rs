//! An image's layers, downloaded (or read) in order by the async side and handed to blocking
//! code on a worker thread (unpack, export) as one `Read` per layer, through small bounded
//! channels: the transfer overlaps the work and no more than a few chunks are held.

use std::io::{self, Read};
use std::thread;

use anyhow::{anyhow, Context, Result};
use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use layerize_core::descriptor::Descriptor;
use layerize_registry::copy::ImageSource;
use layerize_registry::BodyStream;
use tokio::sync::mpsc;

/// Chunks in flight per layer.
const DEPTH: usize = 16;

/// One layer as the worker sees it: a label for messages and its bytes.
pub type FedLayer = (String, ChannelReader);

/// Feeds `layers` from `source` to `work`, which runs on its own thread and takes the layers
/// from the iterator it is given, in order. A download that fails is the error; else `work`'s.
pub async fn feed_layers<S, T, F>(source: &S, layers: &[Descriptor], work: F) -> Result<T>
where
    S: ImageSource,
    T: Send + 'static,
    F: FnOnce(&mut dyn Iterator<Item = FedLayer>) -> Result<T> + Send + 'static,
{
    let (layers_tx, mut layers_rx) = mpsc::channel::<FedLayer>(1);
    let worker = thread::spawn(move || {
        let mut next = std::iter::from_fn(|| layers_rx.blocking_recv());
        work(&mut next)
    });
    let mut download = Ok(());
    for (n, layer) in layers.iter().enumerate() {
        let label = format!("layer {} ({})", n + 1, layer.digest);
        let (tx, rx) = mpsc::channel(DEPTH);
        if layers_tx.send((label.clone(), ChannelReader::new(rx))).await.is_err() {
            break; // the worker stopped (its error is the answer)
        }
        let stream = match source.blob(layer).await {
            Ok(stream) => stream,
            Err(e) => {
                download = Err(anyhow::Error::new(e).context(format!("reading {label}")));
                break;
            }
        };
        // A worker done with a layer early (its tar ended before the blob did) drops its end;
        // the rest is still read so that the blob's digest is checked.
        if let Err(e) = pump(stream, tx).await {
            download = Err(anyhow::Error::new(e).context(format!("reading {label}")));
        }
        if download.is_err() {
            break;
        }
    }
    drop(layers_tx);
    let worked = tokio::task::spawn_blocking(move || worker.join())
        .await
        .context("waiting for the worker thread")?
        .map_err(|_| anyhow!("the worker thread stopped unexpectedly"))?;
    download?;
    worked
}

/// Forwards a blob's chunks while the reader wants them, then reads on to the end so the
/// stream can check the digest; a failure is passed to the reader too.
async fn pump(mut stream: BodyStream, tx: mpsc::Sender<io::Result<Bytes>>) -> Result<(), layerize_registry::Error> {
    let mut tx = Some(tx);
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => {
                if let Some(sender) = &tx {
                    if sender.send(Ok(chunk)).await.is_err() {
                        tx = None;
                    }
                }
            }
            Err(e) => {
                if let Some(sender) = &tx {
                    let _ = sender.send(Err(io::Error::other(e.to_string()))).await;
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The receiving end of one layer as a blocking `Read`.
#[derive(Debug)]
pub struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
}

impl ChannelReader {
    pub fn new(rx: mpsc::Receiver<io::Result<Bytes>>) -> ChannelReader {
        ChannelReader { rx, chunk: Bytes::new() }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}
