//! Hashing a blob sent in parts: the job owns the hasher, and takes the parts as they come.

use std::io;

use layerize_core::digest::HashingWriter;
use wasm_bindgen::JsValue;
use web_sys::{Blob, FileReaderSync};

use super::file_read::FileRead;
use super::{Error, Reply};
use crate::protocol::hash::{HashInput, HashUpdate, Hashed};
use crate::protocol::Hash;

/// Starts the hash: says it is ready, then returns what takes the parts and the end.
pub fn start(reply: Reply<Hash>, job: Hash) -> Box<dyn FnMut(JsValue)> {
    let mut sink = Some(HashingWriter::new(io::sink()));
    reply.update(HashUpdate::Ready);
    Box::new(move |data: JsValue| {
        // After the end or a failure, the job has nothing more to say.
        let Some(mut hashing) = sink.take() else { return };
        let result = match serde_wasm_bindgen::from_value::<HashInput>(data) {
            Ok(HashInput::Part { blob }) => match copy_blob(blob, &mut hashing) {
                Ok(()) => {
                    sink = Some(hashing);
                    return;
                }
                Err(source) => Err(Error::Hashing { what: job.what.clone(), source }),
            },
            Ok(HashInput::End) => {
                let (digest, size, _) = hashing.finish();
                Ok(Hashed { digest, size })
            }
            Err(e) => Err(Error::Hashing { what: job.what.clone(), source: io::Error::other(e.to_string()) }),
        };
        reply.finish(result);
    })
}

/// Feeds all of `blob` to `sink`, read in slices.
fn copy_blob(blob: Blob, sink: &mut impl io::Write) -> io::Result<()> {
    let reader = FileReaderSync::new().map_err(|e| io::Error::other(crate::js_error::js_text(&e)))?;
    io::copy(&mut FileRead::new(blob, reader), sink).map(drop)
}
