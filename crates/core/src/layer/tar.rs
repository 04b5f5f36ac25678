//! Deterministic tar headers: ustar, uid/gid 0, empty owner names, one mtime, and PAX
//! records for names or link targets that do not fit ustar's 100-byte fields.

use std::io::{self, Read, Write};

use tar::{EntryType, Header};

use super::entry::{Entry, EntryKind};

/// Writes entries to a tar stream. Thin over `tar::Builder`: all that is ours is the choice
/// of header fields, which is what makes the bytes reproducible.
pub(crate) struct TarWriter<W: Write> {
    builder: tar::Builder<W>,
    mtime: u64,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(inner: W, mtime: u64) -> Self {
        TarWriter { builder: tar::Builder::new(inner), mtime }
    }

    /// Appends one entry; `data` is read for regular files only and must yield exactly the
    /// entry's size (the caller guards that).
    pub(crate) fn append<S>(&mut self, entry: &Entry<S>, data: impl Read) -> io::Result<()> {
        let name = entry.tar_name();
        let mut header = Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(self.mtime);
        let mut pax: Vec<(&str, &[u8])> = Vec::new();
        let (kind, mode, size, link) = match &entry.kind {
            EntryKind::File { mode, size, .. } => (EntryType::Regular, *mode, *size, None),
            EntryKind::Dir { mode } => (EntryType::Directory, *mode, 0, None),
            EntryKind::Symlink { target } => (EntryType::Symlink, 0o777, 0, Some(target.as_str())),
            EntryKind::Whiteout => (EntryType::Regular, 0o644, 0, None),
        };
        header.set_entry_type(kind);
        header.set_mode(mode & 0o7777);
        header.set_size(size);
        if !set_field(&mut header.as_old_mut().name, name.as_bytes()) {
            pax.push(("path", name.as_bytes()));
        }
        if let Some(link) = link {
            if !set_field(&mut header.as_old_mut().linkname, link.as_bytes()) {
                pax.push(("linkpath", link.as_bytes()));
            }
        }
        if !pax.is_empty() {
            self.builder.append_pax_extensions(pax)?;
        }
        header.set_cksum();
        self.builder.append(&header, data)
    }

    pub(crate) fn into_inner(self) -> io::Result<W> {
        self.builder.into_inner()
    }
}

/// Copies `value` into a NUL-padded header field; when it does not fit, stores a truncated
/// copy (readers use the PAX record instead) and returns false.
fn set_field(field: &mut [u8], value: &[u8]) -> bool {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
    value.len() <= field.len()
}
