//! The worker side: the jobs the layer worker runs (`bin/worker.rs` is its entry).

pub mod extract;
pub mod merge;
pub mod remote_layer;
