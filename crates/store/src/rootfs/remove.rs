//! Taking things out of the tree: whatever is at a path before something new is put there,
//! and what whiteouts and opaque markers delete from the layers below (never what their own
//! layer wrote, wherever they stand in it).

use std::fs;
use std::io;
use std::path::Path;

use super::resolve::{key_of, Lookup};
use super::{Rootfs, IMPLICIT};

impl Rootfs {
    /// Removes what is at `host` (a whole directory tree without following links in it),
    /// except a directory when `keep_dir`; says whether a directory was kept.
    pub(super) fn clear(&mut self, host: &Path, key: &str, keep_dir: bool) -> io::Result<bool> {
        match fs::symlink_metadata(host) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
            Ok(m) if m.is_dir() && keep_dir => Ok(true),
            Ok(m) if m.is_dir() => {
                fs::remove_dir_all(host)?;
                self.forget_dirs(key);
                Ok(false)
            }
            Ok(_) => fs::remove_file(host).map(|()| false),
        }
    }

    /// Drops the held-back metadata of the directory at `key` and of those under it.
    pub(super) fn forget_dirs(&mut self, key: &str) {
        if key.is_empty() {
            self.dirs.clear();
            return;
        }
        let doomed: Vec<String> =
            self.dirs.range(format!("{key}\0")..format!("{key}\u{1}")).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.dirs.remove(&k);
        }
        self.dirs.remove(key);
    }

    /// Deletes `hides` and what is under it, except what the current layer wrote.
    pub(super) fn whiteout(&mut self, hides: &str) -> io::Result<()> {
        match self.lookup(hides)? {
            Lookup::Found(host) => self.remove_lower(&host, &key_of(hides)),
            Lookup::Missing | Lookup::ThroughSymlink(_) => Ok(()),
        }
    }

    /// Empties the directory `dir` of what the layers below put there.
    pub(super) fn opaque(&mut self, dir: &str) -> io::Result<()> {
        let host = match self.lookup(dir)? {
            Lookup::Found(host) => host,
            Lookup::Missing | Lookup::ThroughSymlink(_) => return Ok(()),
        };
        match fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => {}
            _ => return Ok(()),
        }
        self.remove_children(&host, &key_of(dir))
    }

    pub(super) fn remove_lower(&mut self, host: &Path, key: &str) -> io::Result<()> {
        let meta = match fs::symlink_metadata(host) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            other => other?,
        };
        let mine_below = self.layer_paths.range(format!("{key}\0")..format!("{key}\u{1}")).next().is_some();
        let mine = self.layer_paths.contains(key);
        if !mine && !mine_below {
            return self.clear(host, key, false).map(|_| ());
        }
        if !meta.is_dir() {
            return Ok(());
        }
        self.remove_children(host, key)?;
        if !mine {
            // Kept only as the parent of this layer's paths: a parent the layer left out.
            self.dirs.insert(key.to_owned(), IMPLICIT);
        }
        Ok(())
    }

    pub(super) fn remove_children(&mut self, host: &Path, key: &str) -> io::Result<()> {
        let mut names = Vec::new();
        for child in fs::read_dir(host)? {
            names.push(child?.file_name().to_string_lossy().into_owned());
        }
        for name in names {
            let child_key = if key.is_empty() { name.clone() } else { format!("{key}\0{name}") };
            self.remove_lower(&host.join(&name), &child_key)?;
        }
        Ok(())
    }
}
