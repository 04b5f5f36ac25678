//! Hashing a blob sent in parts (its bytes): the job owns the hasher, and takes the parts as
//! they come.

use std::io;

use layerize_core::digest::Hasher;
use wasm_bindgen::JsValue;

use super::{Error, Reply};
use crate::protocol::hash::{HashInput, HashUpdate, Hashed};
use crate::protocol::Hash;

/// Starts the hash: says it is ready, then returns what takes the parts and the end.
pub fn start(reply: Reply<Hash>, job: Hash) -> Box<dyn FnMut(JsValue)> {
    let mut sink = Some(Hasher::new());
    let mut part = Vec::new();
    reply.update(HashUpdate::Ready);
    Box::new(move |data: JsValue| {
        // After the end or a failure, the job has nothing more to say.
        let Some(mut hashing) = sink.take() else { return };
        let result = match serde_wasm_bindgen::from_value::<HashInput>(data) {
            Ok(HashInput::Part { bytes }) => {
                part.resize(bytes.length() as usize, 0);
                bytes.copy_to(&mut part);
                hashing.update(&part);
                sink = Some(hashing);
                return;
            }
            Ok(HashInput::End) => {
                let size = hashing.len();
                Ok(Hashed { digest: hashing.finish(), size })
            }
            Err(e) => Err(Error::Hashing { what: job.what.clone(), source: io::Error::other(e.to_string()) }),
        };
        reply.finish(result);
    })
}
