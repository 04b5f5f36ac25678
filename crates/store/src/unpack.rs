//! An image's layers applied in order to a directory, the way a runtime unpacks them.
//!
//! The rules are [`layerize_core::flatten`]'s (the merged view `ls --merged` lists), here
//! carried out on disk in one streaming pass per layer:
//! - whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`) delete from the layers below,
//!   never from their own layer, wherever they stand in it;
//! - whatever is at a path is unlinked before a member is written there, so a file replaced
//!   or deleted later never changes the other names of its hard links;
//! - symbolic links are written as links and never followed: a member whose name is absolute,
//!   climbs with `..`, or whose parent is a symbolic link, and a hard link whose target is
//!   one of those, are refused with an error naming the layer and the member;
//! - modes, mtimes and extended attributes (PAX `SCHILY.xattr.*`) are kept (directories'
//!   modes and times at the end, after their children), and owners when unpacking as root;
//!   devices are made only as root and skipped with a warning otherwise, as is an extended
//!   attribute that cannot be set.
//!
//! On an error the tree written so far is left as it is (umoci does the same); the error
//! says which layer and which member.

use std::io::Read;
use std::path::Path;

use layerize_core::layer::read::{LayerReader, StoredEntry};

use crate::error::Error;
use crate::rootfs::Rootfs;

/// Choices for [`unpack`] and [`export`](crate::export::export).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnpackOptions {
    /// Set owners from the layers and make device nodes: only possible with an effective
    /// user id of 0. [`UnpackOptions::for_current_user`] sets it when that is so.
    pub as_root: bool,
}

impl UnpackOptions {
    /// Options that fit the running process: `as_root` when its effective user id is 0.
    pub fn for_current_user() -> UnpackOptions {
        UnpackOptions { as_root: rustix::process::geteuid().is_root() }
    }
}

/// What an unpack wrote, counted per member written (a path written by two layers counts
/// twice).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnpackSummary {
    pub layers: usize,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Device nodes and FIFOs made.
    pub specials: u64,
    /// Members not written: device nodes when not root, unknown tar types.
    pub skipped: u64,
    /// Whiteouts and opaque markers applied.
    pub whiteouts: u64,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Unpacks `layers` (lowest first; each a label such as `layer 2 (sha256:abcd…)` for errors,
/// and the blob's bytes: gzip, zstd or plain tar, told apart by their first bytes) into
/// `dir`, which must be empty or absent. Warnings (a device node skipped) go to `warn`.
pub fn unpack<R: Read>(
    dir: &Path,
    layers: impl IntoIterator<Item = (String, R)>,
    options: &UnpackOptions,
    warn: &mut dyn FnMut(String),
) -> Result<UnpackSummary, Error> {
    let mut rootfs = Rootfs::create(dir, options.as_root, true)?;
    for (label, blob) in layers {
        apply_layer(&mut rootfs, &label, blob, warn, &mut |_| {})?;
    }
    rootfs.finish()?;
    Ok(rootfs.summary().clone())
}

/// Applies one layer to `rootfs`, member by member as the blob streams in, and hands each
/// member's entry to `seen` once it is applied.
pub(crate) fn apply_layer<R: Read>(
    rootfs: &mut Rootfs,
    label: &str,
    blob: R,
    warn: &mut dyn FnMut(String),
    seen: &mut dyn FnMut(&StoredEntry),
) -> Result<(), Error> {
    // The core's messages say "layer {what}"; a label that already starts with "layer" is
    // not to read "layer layer 2".
    let what = label.strip_prefix("layer ").unwrap_or(label);
    let mut reader = LayerReader::new(what, blob)?;
    rootfs.start_layer(label);
    while let Some(mut member) = reader.next_member()? {
        rootfs.apply(&mut member, warn)?;
        seen(&member.entry);
    }
    Ok(())
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
pub(crate) mod tests;
