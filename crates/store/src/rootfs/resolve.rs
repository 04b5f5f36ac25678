//! Where a member's path lies under the root, found without following a symbolic link: the
//! names a careful layer writer never produces are refused, and so is a path whose parent is
//! a symbolic link.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use super::{Rootfs, IMPLICIT};
use crate::error::Error;

/// Where a path lies under the root, found without following symbolic links.
pub(super) enum Lookup {
    Found(PathBuf),
    /// A parent is missing or is not a directory: nothing is at the path.
    Missing,
    /// A parent is a symbolic link (its path in the image).
    ThroughSymlink(String),
}

impl Rootfs {
    /// Makes every directory above `path` a directory (0755 where the layers left it out;
    /// replacing a non-directory, as the merged view does), refusing a symbolic link among
    /// them, and returns where `path` itself goes.
    pub(super) fn parents(&mut self, path: &str, raw: &str) -> Result<PathBuf, Error> {
        let mut host = self.root.clone();
        let mut key = String::new();
        let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let Some((last, dirs)) = parts.split_last() else { return Ok(host) };
        for part in dirs {
            host.push(part);
            if !key.is_empty() {
                key.push('\0');
            }
            key.push_str(part);
            let made = match fs::symlink_metadata(&host) {
                Ok(m) if m.is_dir() => continue,
                Ok(m) if m.file_type().is_symlink() => {
                    let reason = format!(
                        "its parent /{} is a symbolic link, and writing through it could land outside the directory",
                        key.replace('\0', "/")
                    );
                    return Err(self.refuse(raw, reason));
                }
                Ok(_) => fs::remove_file(&host).and_then(|()| DirBuilder::new().mode(0o700).create(&host)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => DirBuilder::new().mode(0o700).create(&host),
                Err(e) => Err(e),
            };
            made.map_err(self.failed(raw, "create its parent directory"))?;
            self.dirs.insert(key.clone(), IMPLICIT);
        }
        host.push(last);
        Ok(host)
    }

    /// Finds `path` without following a symbolic link and without making anything.
    pub(super) fn lookup(&self, path: &str) -> io::Result<Lookup> {
        let mut host = self.root.clone();
        let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        let Some((last, dirs)) = parts.split_last() else { return Ok(Lookup::Found(host)) };
        for (i, part) in dirs.iter().enumerate() {
            host.push(part);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Ok(Lookup::ThroughSymlink(format!("/{}", dirs[..=i].join("/"))))
                }
                Ok(_) => return Ok(Lookup::Missing),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Lookup::Missing),
                Err(e) => return Err(e),
            }
        }
        host.push(last);
        Ok(Lookup::Found(host))
    }
}

/// A name a careful layer writer never produces: absolute, or with `..` in it.
pub(super) fn check_name(raw: &str, what: &str) -> Result<(), String> {
    if raw.starts_with('/') {
        return Err(format!("{what} is absolute; layer members are named relative to the image root"));
    }
    if raw.split('/').any(|c| c == "..") {
        return Err(format!("{what} has a `..` component, which could climb out of the directory"));
    }
    Ok(())
}

/// `/a/b` → `a\0b` (as [`layerize_core::flatten`] keys its tree): a directory's subtree is
/// then one contiguous range of a sorted map.
pub(super) fn key_of(path: &str) -> String {
    path.trim_start_matches('/').replace('/', "\0")
}
