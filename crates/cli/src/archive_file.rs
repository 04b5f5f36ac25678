//! An image archive on disk, opened for reading. A gzipped tar is first inflated into an
//! unnamed temporary file, because members are read by offset; then the tar's headers are indexed
//! once and every member is read with positional reads.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;
use layerize_core::archive::{copy_tar, find_images, ArchivedBlob, Found, Members};
use layerize_core::media_type::Compression;
use layerize_core::Platform;

use crate::blob_source::ArchiveBlob;

/// An archive whose members are indexed.
#[derive(Debug)]
pub struct ArchiveFile {
    /// The path as the user gave it, for messages.
    path: PathBuf,
    file: Arc<File>,
    members: Members,
}

impl ArchiveFile {
    pub fn open(path: &Path) -> Result<ArchiveFile> {
        let shown = path.display();
        let mut file = File::open(path).with_context(|| format!("cannot open {shown}"))?;
        let mut head = [0u8; 4];
        let n = read_head(&mut file, &mut head).with_context(|| format!("cannot read {shown}"))?;
        let file = match Compression::sniff(&head[..n]) {
            Compression::Gzip => inflate(path)?,
            Compression::Zstd => anyhow::bail!("{shown} is a zstd-compressed file; decompress it first (zstd -d)"),
            Compression::None => file,
        };
        let members = Members::scan(&file).with_context(|| format!("reading {shown}"))?;
        Ok(ArchiveFile { path: path.to_owned(), file: Arc::new(file), members })
    }

    /// The images (and complete indexes) the archive holds; see
    /// [`layerize_core::archive::find_images`].
    pub fn find(&self, platform: &Platform, platform_given: bool) -> Result<Vec<Found>> {
        let mut reader: &File = &self.file;
        find_images(&self.members, &mut reader, platform, platform_given)
            .with_context(|| format!("reading {}", self.path.display()))
    }

    /// A blob of this archive as a source to push or copy.
    pub fn blob(&self, blob: &ArchivedBlob) -> ArchiveBlob {
        ArchiveBlob { file: Arc::clone(&self.file), blob: blob.clone() }
    }
}

fn read_head(file: &mut File, head: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Inflates a gzipped archive into a private temporary file with no name (nothing is left if
/// the process is killed), through [`copy_tar`]: what is not a tar fails at its first block,
/// and nothing past the tar's end is inflated, so a small file that inflates to gigabytes of
/// zeros writes at most what its headers declare.
fn inflate(path: &Path) -> Result<File> {
    let shown = path.display();
    let mut temp = tempfile::tempfile().context("cannot create a temporary file to inflate the archive into")?;
    let file = File::open(path).with_context(|| format!("cannot open {shown}"))?;
    let gz = MultiGzDecoder::new(BufReader::with_capacity(1 << 20, file));
    copy_tar(gz, &mut temp).with_context(|| format!("{shown} (gzip-compressed)"))?;
    Ok(temp)
}
