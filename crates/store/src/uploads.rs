//! Unfinished uploads, remembered in a layout (`.layerize/uploads/`), so a push or copy killed
//! part way continues on the next run from where the registry says the upload stands (a
//! registry that dropped it meanwhile is simply asked for a new one).

use std::fs;
use std::path::PathBuf;

use layerize_core::Digest;
use layerize_registry::UploadJournal;
use url::Url;

use crate::layout::Layout;

/// The journal of unfinished uploads kept in a layout.
#[derive(Clone, Debug)]
pub struct Uploads {
    dir: PathBuf,
}

impl Uploads {
    pub fn new(layout: &Layout) -> Uploads {
        Uploads { dir: layout.root().join(".layerize/uploads") }
    }

    /// One file per (registry, repository, blob), named by a hash of the three.
    fn path(&self, registry: &str, repository: &str, digest: &Digest) -> PathBuf {
        let key = Digest::sha256(format!("{registry}\n{repository}\n{digest}").as_bytes());
        self.dir.join(key.hex())
    }
}

impl UploadJournal for Uploads {
    fn find(&self, registry: &str, repository: &str, digest: &Digest) -> Option<Url> {
        let text = fs::read_to_string(self.path(registry, repository, digest)).ok()?;
        text.trim().parse().ok()
    }

    /// Best effort: a journal that cannot be written costs a resume, never the upload.
    fn started(&self, registry: &str, repository: &str, digest: &Digest, location: &Url) {
        if fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        let path = self.path(registry, repository, digest);
        let tmp = path.with_extension("tmp");
        if fs::write(&tmp, location.as_str()).is_ok() {
            let _ = fs::rename(&tmp, &path);
        }
    }

    fn finished(&self, registry: &str, repository: &str, digest: &Digest) {
        let _ = fs::remove_file(self.path(registry, repository, digest));
    }
}
