//! An image's merged root filesystem as one tar, with the rules of [`unpack`](crate::unpack).
//!
//! The layers are unpacked once into a scratch directory, which gives file contents and
//! which names share an inode (the rules on disk are unpack's, so the two cannot drift);
//! meanwhile each layer's entries go through the core's [`Flattener`], which gives every
//! path's type, mode, owner and mtime as the layers have them, also when not running as root
//! and for device nodes that only root could make. The tar is then written in the
//! flattener's order (parents before children), names without a leading `/`, each hard-link
//! group as one file and tar hard links to its first name.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use layerize_core::flatten::{Flattener, MergedEntry};
use layerize_core::layer::read::Kind;
use tar::{EntryType, Header};

use crate::error::Error;
use crate::rootfs::Rootfs;
use crate::unpack::{apply_layer, UnpackOptions};

/// Writes the merged tree of `layers` (as [`unpack`](crate::unpack::unpack) takes them) to
/// `out` as one tar and returns `out`. The scratch tree lives in a temporary directory under
/// `scratch` and is removed before this returns.
pub fn export<R: Read, W: Write>(
    scratch: &Path,
    layers: impl IntoIterator<Item = (String, R)>,
    out: W,
    options: &UnpackOptions,
    warn: &mut dyn FnMut(String),
) -> Result<W, Error> {
    let temp = tempfile::Builder::new()
        .prefix(".layerize-export-")
        .tempdir_in(scratch)
        .map_err(Error::io("create a temporary directory in", scratch))?;
    let mut rootfs = Rootfs::create(&temp.path().join("rootfs"), options.as_root, false)?;
    let mut flattener = Flattener::new();
    for (label, blob) in layers {
        let mut entries = Vec::new();
        apply_layer(&mut rootfs, &label, blob, warn, &mut |entry| entries.push(entry.clone()))?;
        flattener.apply(&entries);
    }
    let mut tar = TarOut { builder: tar::Builder::new(out), root: rootfs.root(), first_names: HashMap::new() };
    for entry in flattener.into_entries() {
        tar.append(&entry)?;
    }
    let out = tar.builder.into_inner().map_err(|source| Error::ExportWrite { source })?;
    temp.close().map_err(Error::io("remove the scratch directory under", scratch))?;
    Ok(out)
}

/// The tar being written, beside the scratch tree it takes contents from.
struct TarOut<'a, W: Write> {
    builder: tar::Builder<W>,
    root: &'a Path,
    /// The first name written of each inode that has more than one.
    first_names: HashMap<(u64, u64), String>,
}

impl<W: Write> TarOut<'_, W> {
    fn append(&mut self, entry: &MergedEntry) -> Result<(), Error> {
        let name = entry.path.trim_start_matches('/');
        let mut header = Header::new_gnu();
        header.set_mode(entry.mode);
        header.set_uid(entry.uid);
        header.set_gid(entry.gid);
        header.set_mtime(entry.mtime);
        header.set_size(0);
        let written = match &entry.kind {
            Kind::Dir => {
                header.set_entry_type(EntryType::Directory);
                self.builder.append_data(&mut header, format!("{name}/"), io::empty())
            }
            Kind::Symlink { target } => {
                header.set_entry_type(EntryType::Symlink);
                self.builder.append_link(&mut header, name, target)
            }
            Kind::File | Kind::Hardlink { .. } => return self.append_file(header, name, &entry.kind),
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                let kind =
                    if matches!(entry.kind, Kind::CharDevice { .. }) { EntryType::Char } else { EntryType::Block };
                header.set_entry_type(kind);
                header.set_device_major(*major).and_then(|()| header.set_device_minor(*minor)).map_err(export_error)?;
                self.builder.append_data(&mut header, name, io::empty())
            }
            Kind::Fifo => {
                header.set_entry_type(EntryType::Fifo);
                self.builder.append_data(&mut header, name, io::empty())
            }
            // Unknown types were skipped with a warning while unpacking; whiteouts are never
            // in a merged view.
            Kind::Other { .. } | Kind::Whiteout { .. } | Kind::Opaque { .. } | Kind::AufsMeta => return Ok(()),
        };
        written.map_err(export_error)
    }

    /// A regular file (or a hard link, which the scratch tree resolved): its content, or a
    /// tar hard link to the first name of its inode. A hard link to a device node or fifo (not
    /// made in the scratch tree) stays a tar hard link to its target.
    fn append_file(&mut self, mut header: Header, name: &str, kind: &Kind) -> Result<(), Error> {
        let host = self.root.join(name);
        let meta = match (fs::symlink_metadata(&host), kind) {
            (Err(e), Kind::Hardlink { target }) if e.kind() == io::ErrorKind::NotFound => {
                header.set_entry_type(EntryType::Link);
                let target = target.trim_start_matches('/');
                return self.builder.append_link(&mut header, name, target).map_err(export_error);
            }
            (meta, _) => meta.map_err(Error::io("read", &host))?,
        };
        if meta.nlink() > 1 {
            let inode = (meta.dev(), meta.ino());
            if let Some(first) = self.first_names.get(&inode) {
                header.set_entry_type(EntryType::Link);
                return self.builder.append_link(&mut header, name, first).map_err(export_error);
            }
            self.first_names.insert(inode, name.to_owned());
        }
        if meta.file_type().is_symlink() {
            // A hard link to a symbolic link is that link under a second name.
            let target = fs::read_link(&host).map_err(Error::io("read", &host))?;
            header.set_entry_type(EntryType::Symlink);
            return self.builder.append_link(&mut header, name, target).map_err(export_error);
        }
        let file = File::open(&host).map_err(Error::io("open", &host))?;
        header.set_entry_type(EntryType::Regular);
        header.set_size(meta.len());
        self.builder.append_data(&mut header, name, file).map_err(export_error)
    }
}

fn export_error(source: io::Error) -> Error {
    Error::ExportWrite { source }
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
