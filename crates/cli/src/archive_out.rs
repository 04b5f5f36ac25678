//! An archive's bytes on their way to disk, for the registry crate's
//! [`ArchiveSink`](layerize_registry::archive_sink::ArchiveSink): a temporary file beside the
//! destination, renamed into place only once the archive is complete, so a failure never
//! leaves a partial archive behind (the temporary file goes when this is dropped).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use layerize_registry::archive_sink::ArchiveOutput;
use layerize_registry::Error;
use tempfile::NamedTempFile;

/// The file an archive is written to.
#[derive(Debug)]
pub struct OutputFile {
    dest: PathBuf,
    temp: NamedTempFile,
}

impl OutputFile {
    pub fn create(dest: &Path) -> Result<OutputFile> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let temp = crate::scratch::create_in(&dir).with_context(|| format!("cannot write {}", dest.display()))?;
        Ok(OutputFile { dest: dest.to_owned(), temp })
    }

    /// Moves the finished archive to its destination (mode 0644, like any output), after
    /// its bytes reached the disk.
    pub fn persist(self) -> Result<()> {
        let OutputFile { dest, temp } = self;
        temp.as_file().sync_all().with_context(|| format!("writing {}", dest.display()))?;
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644))?;
        temp.persist(&dest).with_context(|| format!("cannot write {}", dest.display()))?;
        Ok(())
    }
}

impl ArchiveOutput for OutputFile {
    /// A plain blocking write: the pieces are about 1 MiB, and the copy writes an archive one
    /// blob at a time.
    async fn write(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
        self.temp
            .as_file_mut()
            .write_all(&bytes)
            .map_err(|e| Error::Local(format!("writing {}: {e}", self.dest.display()).into()))
    }
}
