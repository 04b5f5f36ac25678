//! Writing an archive every reader takes: Docker 25's layout, an OCI image layout whose
//! `blobs/` members are also what `manifest.json` points at, so `docker load` (old and new),
//! podman, skopeo and containerd all read the same file.
//!
//! Blobs stream through in one pass and are checked as they go; the small files that list
//! them (`index.json`, `manifest.json`, `repositories`) come last. Headers are fixed (mode
//! 0644/0755, uid/gid 0, mtime 0), so the same images always give the same bytes.

use std::collections::BTreeSet;
use std::io::{self, Write};

use super::docker::{familiar_tag, manifest_json, repositories, ManifestEntry, MANIFEST_JSON, REPOSITORIES};
use super::oci_layout::{blob_path, index_json, named, INDEX_JSON, OCI_LAYOUT, OCI_LAYOUT_CONTENT};
use crate::config::Config;
use crate::descriptor::Descriptor;
use crate::digest::{Digest, Hasher};
use crate::error::Error;
use crate::manifest::ImageManifest;
use crate::reference::Reference;

const BLOCK: usize = 512;

/// An archive being written to `out`. Dropping it unfinished leaves a tar no reader accepts
/// (no `manifest.json`, no `index.json`), which the caller deletes.
#[derive(Debug)]
pub struct ArchiveWriter<W: Write> {
    out: W,
    blobs: BTreeSet<Digest>,
    dirs: BTreeSet<String>,
    entries: Vec<ManifestEntry>,
    /// Manifest digest of each `entries` item, to merge an image saved under two names.
    entry_digests: Vec<Digest>,
    index: Vec<Descriptor>,
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts the archive with `oci-layout` and the `blobs/` directory.
    pub fn new(out: W) -> Result<ArchiveWriter<W>, Error> {
        let mut w = ArchiveWriter {
            out,
            blobs: BTreeSet::new(),
            dirs: BTreeSet::new(),
            entries: Vec::new(),
            entry_digests: Vec::new(),
            index: Vec::new(),
        };
        w.file(OCI_LAYOUT, OCI_LAYOUT_CONTENT)?;
        w.dir("blobs")?;
        Ok(w)
    }

    /// The output, so a caller whose destination is asynchronous (a file the page writes
    /// through a promise) can let the writer fill a buffer and drain it between writes.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Whether the blob is already in the archive (images share layers).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blobs.contains(digest)
    }

    /// Adds a small blob (a config, a manifest) after checking it is what `descriptor` says.
    /// A blob already in the archive is skipped.
    pub fn add_blob(&mut self, descriptor: &Descriptor, bytes: &[u8]) -> Result<(), Error> {
        if self.has_blob(&descriptor.digest) {
            return Ok(());
        }
        let mut blob = self.start_blob(descriptor)?;
        blob.write_all(bytes).map_err(|source| Error::ArchiveWrite { source })?;
        blob.finish()
    }

    /// Starts a blob whose bytes the caller then writes; [`BlobWriter::finish`] checks them
    /// against `descriptor`. Call [`ArchiveWriter::has_blob`] first: a blob is written once.
    pub fn start_blob(&mut self, descriptor: &Descriptor) -> Result<BlobWriter<'_, W>, Error> {
        let digest = &descriptor.digest;
        if self.has_blob(digest) {
            return Err(Error::InvalidArchive { problem: format!("would hold blob {digest} twice") });
        }
        self.dir(&format!("blobs/{}", digest.algorithm()))?;
        self.header(&blob_path(digest), descriptor.size, false)?;
        Ok(BlobWriter { archive: self, descriptor: descriptor.clone(), hasher: Hasher::new() })
    }

    /// Records an image whose config and layers are already in the archive: writes its
    /// manifest blob (the exact bytes) and lists it under `names` in `index.json` and
    /// `manifest.json`.
    pub fn add_image(&mut self, manifest: &ImageManifest, config: &Config, names: &[Reference]) -> Result<(), Error> {
        let missing = std::iter::once(&manifest.config).chain(&manifest.layers).find(|d| !self.has_blob(&d.digest));
        if let Some(d) = missing {
            return Err(Error::InvalidArchive {
                problem: format!("would list image {} without its blob {}", manifest.digest(), d.digest),
            });
        }
        if config.digest() != &manifest.config.digest {
            return Err(Error::InvalidArchive {
                problem: format!("was given config {} for manifest {}", config.digest(), manifest.digest()),
            });
        }
        self.add_blob(&manifest.descriptor(), manifest.raw())?;

        let mut descriptor = manifest.descriptor();
        descriptor.platform = Some(config.platform());
        let tagged: Vec<&Reference> = names.iter().filter(|n| n.tag().is_some()).collect();
        if tagged.is_empty() {
            self.index.push(descriptor);
        } else {
            self.index.extend(tagged.iter().map(|n| named(&descriptor, n)));
        }
        let tags: Vec<String> = tagged.iter().filter_map(|n| familiar_tag(n)).collect();
        if let Some(i) = self.entry_digests.iter().position(|d| d == manifest.digest()) {
            let entry = &mut self.entries[i];
            for tag in tags {
                if !entry.repo_tags.contains(&tag) {
                    entry.repo_tags.push(tag);
                }
            }
            return Ok(());
        }
        self.entries.push(ManifestEntry {
            config: blob_path(&manifest.config.digest),
            repo_tags: tags,
            layers: manifest.layers.iter().map(|l| blob_path(&l.digest)).collect(),
        });
        self.entry_digests.push(manifest.digest().clone());
        Ok(())
    }

    /// Writes `index.json`, `manifest.json`, `repositories` and the end of the tar.
    pub fn finish(mut self) -> Result<W, Error> {
        if self.entries.is_empty() {
            return Err(Error::InvalidArchive { problem: "would hold no image".into() });
        }
        self.file(INDEX_JSON, &index_json(&self.index))?;
        self.file(MANIFEST_JSON, &manifest_json(&self.entries))?;
        if let Some(repos) = repositories(&self.entries) {
            self.file(REPOSITORIES, &repos)?;
        }
        self.out.write_all(&[0u8; 2 * BLOCK]).map_err(|source| Error::ArchiveWrite { source })?;
        self.out.flush().map_err(|source| Error::ArchiveWrite { source })?;
        Ok(self.out)
    }

    fn file(&mut self, path: &str, bytes: &[u8]) -> Result<(), Error> {
        self.header(path, bytes.len() as u64, false)?;
        self.out.write_all(bytes).map_err(|source| Error::ArchiveWrite { source })?;
        self.pad(bytes.len() as u64)
    }

    fn dir(&mut self, path: &str) -> Result<(), Error> {
        if self.dirs.insert(path.to_owned()) {
            self.header(&format!("{path}/"), 0, true)?;
        }
        Ok(())
    }

    fn header(&mut self, path: &str, size: u64, dir: bool) -> Result<(), Error> {
        let mut header = tar::Header::new_ustar();
        header.set_path(path).map_err(|_| Error::InvalidMemberPath {
            path: path.to_owned(),
            problem: "cannot be written in a ustar header",
        })?;
        header.set_entry_type(if dir { tar::EntryType::Directory } else { tar::EntryType::Regular });
        header.set_mode(if dir { 0o755 } else { 0o644 });
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(size);
        header.set_cksum();
        self.out.write_all(header.as_bytes()).map_err(|source| Error::ArchiveWrite { source })
    }

    fn pad(&mut self, len: u64) -> Result<(), Error> {
        let rest = (BLOCK - (len % BLOCK as u64) as usize) % BLOCK;
        self.out.write_all(&[0u8; BLOCK][..rest]).map_err(|source| Error::ArchiveWrite { source })
    }
}

/// The bytes of one blob going into the archive. Writing more than its size fails at once;
/// [`BlobWriter::finish`] checks the size and digest of what was written.
#[derive(Debug)]
pub struct BlobWriter<'a, W: Write> {
    archive: &'a mut ArchiveWriter<W>,
    descriptor: Descriptor,
    hasher: Hasher,
}

impl<W: Write> BlobWriter<'_, W> {
    /// The archive's output, to drain between writes (see [`ArchiveWriter::get_mut`]).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.archive.out
    }

    pub fn finish(self) -> Result<(), Error> {
        let BlobWriter { archive, descriptor, hasher } = self;
        let fail = |what: &'static str, expected: String, found: String| Error::MemberMismatch {
            member: blob_path(&descriptor.digest),
            what,
            expected,
            found,
        };
        let written = hasher.len();
        if written != descriptor.size {
            return Err(fail("size", descriptor.size.to_string(), written.to_string()));
        }
        let found = hasher.finish();
        if found != descriptor.digest {
            return Err(fail("digest", descriptor.digest.to_string(), found.to_string()));
        }
        archive.pad(written)?;
        archive.blobs.insert(descriptor.digest);
        Ok(())
    }
}

impl<W: Write> Write for BlobWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.hasher.len() + buf.len() as u64 > self.descriptor.size {
            return Err(io::Error::other(format!(
                "blob {} is longer than the {} bytes its descriptor gives",
                self.descriptor.digest, self.descriptor.size
            )));
        }
        let n = self.archive.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.archive.out.flush()
    }
}

#[cfg(test)]
pub(crate) mod tests;
