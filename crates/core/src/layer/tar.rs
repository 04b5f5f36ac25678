//! Deterministic tar headers: ustar, uid/gid 0, empty owner names, one mtime, and PAX
//! records for names or link targets that do not fit ustar's 100-byte fields.

use std::io::{self, Write};

use tar::{EntryType, Header};

use super::entry::{Entry, EntryKind};

/// Writes entries to a tar stream. Thin over `tar::Builder`: all that is ours is the choice
/// of header fields, which is what makes the bytes reproducible.
pub(crate) struct TarWriter<W: Write> {
    builder: tar::Builder<Counted<W>>,
    mtime: u64,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(inner: W, mtime: u64) -> Self {
        TarWriter { builder: tar::Builder::new(Counted { inner, written: 0 }), mtime }
    }

    /// The tar offset the next byte lands at.
    pub(crate) fn position(&self) -> u64 {
        self.builder.get_ref().written
    }

    /// Writes one entry's header (and PAX records); a regular file's content follows through
    /// [`TarWriter::content`], exactly as many bytes as the header says (the caller guards
    /// that), then [`TarWriter::end`] with that size.
    pub(crate) fn begin<S>(&mut self, entry: &Entry<S>) -> io::Result<()> {
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
        self.builder.get_mut().write_all(header.as_bytes())
    }

    /// Content of the entry begun last.
    pub(crate) fn content(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.builder.get_mut().write_all(bytes)
    }

    /// Pads the content of `size` bytes to the next 512-byte record.
    pub(crate) fn end(&mut self, size: u64) -> io::Result<()> {
        let pad = (512 - size % 512) % 512;
        self.builder.get_mut().write_all(&[0; 512][..pad as usize])
    }

    /// Ends the archive (two zero records); the inner writer and the archive's size.
    pub(crate) fn into_inner(self) -> io::Result<(W, u64)> {
        self.builder.into_inner().map(|counted| (counted.inner, counted.written))
    }
}

/// Counts what the tar builder writes (PAX records included), for [`TarWriter::position`].
struct Counted<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Copies `value` into a NUL-padded header field; when it does not fit, stores a truncated
/// copy (readers use the PAX record instead) and returns false.
fn set_field(field: &mut [u8], value: &[u8]) -> bool {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
    value.len() <= field.len()
}
