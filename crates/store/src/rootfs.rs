//! The directory an unpack writes into: every member's path resolved under it without
//! following a symbolic link, whatever was at a path unlinked before something new is put
//! there, and directories' metadata held back until their children are written.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, DirBuilder, FileTimes, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{fchown, lchown, symlink, DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use layerize_core::layer::read::{Kind, Member, WHITEOUT_META_PREFIX};
use rustix::fs::{AtFlags, FileType, Mode, Timespec, Timestamps, CWD};

use crate::error::Error;
use crate::unpack::UnpackSummary;

mod remove;
mod resolve;

use resolve::{check_name, key_of, Lookup};

/// Bytes of file content copied at a time.
const CHUNK: usize = 256 << 10;

/// A directory's metadata from its layer entry, applied once everything is written.
#[derive(Clone, Copy, Debug)]
struct DirMeta {
    mode: u32,
    uid: u64,
    gid: u64,
    /// `None` for a parent no layer named: it keeps the time it was made, as with umoci.
    mtime: Option<u64>,
}

/// A parent directory a layer leaves out (as the merged view lists it).
const IMPLICIT: DirMeta = DirMeta { mode: 0o755, uid: 0, gid: 0, mtime: None };

/// The tree being written.
#[derive(Debug)]
pub(crate) struct Rootfs {
    root: PathBuf,
    as_root: bool,
    /// `false` for the scratch tree of an export: there only contents and which names share
    /// an inode matter, so modes, owners and times are left as made (all readable).
    keep_metadata: bool,
    /// Directories written so far, keyed by `resolve::key_of` so a subtree is one range.
    dirs: BTreeMap<String, DirMeta>,
    /// Paths the current layer wrote: its whiteouts do not delete them.
    layer_paths: BTreeSet<String>,
    /// Device nodes not made (not root, or an export's scratch tree), and hard links to them.
    not_made: BTreeSet<String>,
    layer: String,
    summary: UnpackSummary,
    buf: Vec<u8>,
}

impl Rootfs {
    /// Takes `dir`, which must be an empty directory or absent (then it is made).
    pub(crate) fn create(dir: &Path, as_root: bool, keep_metadata: bool) -> Result<Rootfs, Error> {
        let target = |problem| Error::UnpackTarget { path: dir.to_owned(), problem };
        match fs::metadata(dir) {
            Ok(m) if !m.is_dir() => return Err(target("it exists and is not a directory")),
            Ok(_) => {
                if fs::read_dir(dir).map_err(Error::io("read", dir))?.next().is_some() {
                    return Err(target("it is not empty (unpack writes only into an empty or absent directory)"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(Error::io("create the directory", dir))?
            }
            Err(e) => return Err(Error::io("read", dir)(e)),
        }
        let root = fs::canonicalize(dir).map_err(Error::io("resolve", dir))?;
        Ok(Rootfs {
            root,
            as_root,
            keep_metadata,
            dirs: BTreeMap::new(),
            layer_paths: BTreeSet::new(),
            not_made: BTreeSet::new(),
            layer: String::new(),
            summary: UnpackSummary::default(),
            buf: vec![0; CHUNK],
        })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn summary(&self) -> &UnpackSummary {
        &self.summary
    }

    /// Begins the next layer; `label` names it in errors.
    pub(crate) fn start_layer(&mut self, label: &str) {
        self.layer = label.to_owned();
        self.layer_paths.clear();
        self.summary.layers += 1;
    }

    /// Applies one member of the current layer.
    pub(crate) fn apply<R: Read>(
        &mut self,
        member: &mut Member<'_, R>,
        warn: &mut dyn FnMut(String),
    ) -> Result<(), Error> {
        let raw = member.raw_path.clone();
        if let Err(reason) = check_name(&raw, "its name") {
            return Err(self.refuse(&raw, reason));
        }
        let entry = member.entry.clone();
        match &entry.kind {
            Kind::Whiteout { hides } => {
                self.summary.whiteouts += 1;
                return self.whiteout(hides).map_err(self.failed(&raw, "apply the whiteout"));
            }
            Kind::Opaque { dir } => {
                self.summary.whiteouts += 1;
                return self.opaque(dir).map_err(self.failed(&raw, "apply the opaque marker"));
            }
            Kind::AufsMeta => return Ok(()),
            _ if entry.path == "/" || entry.path.split('/').any(|c| c.starts_with(WHITEOUT_META_PREFIX)) => {
                return Ok(())
            }
            Kind::Other { type_flag } => {
                warn(format!(
                    "{}: member {raw:?} has tar type {type_flag:?}, which layerize does not know; skipped",
                    self.layer
                ));
                self.summary.skipped += 1;
                return Ok(());
            }
            _ => {}
        }
        let key = key_of(&entry.path);
        let host = self.parents(&entry.path, &raw)?;
        let xattrs = member.xattrs.clone();
        self.not_made.remove(&key);
        let meta = DirMeta { mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: Some(entry.mtime) };
        match &entry.kind {
            Kind::Dir => {
                let kept = self.clear(&host, &key, true).map_err(self.failed(&raw, "replace what was there"))?;
                if !kept {
                    DirBuilder::new().mode(0o700).create(&host).map_err(self.failed(&raw, "create the directory"))?;
                }
                self.dirs.insert(key.clone(), meta);
                self.set_xattrs(&host, &xattrs, &raw, warn);
                self.summary.dirs += 1;
            }
            Kind::File => {
                self.clear(&host, &key, false).map_err(self.failed(&raw, "replace what was there"))?;
                let written = self.write_file(&host, member, meta, &raw, &xattrs, warn)?;
                if written != entry.size {
                    let e = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the layer ends after {written} of its {} bytes", entry.size),
                    );
                    return Err(self.failed(&raw, "read its content")(e));
                }
                self.summary.files += 1;
                self.summary.bytes += written;
            }
            Kind::Symlink { target } => {
                self.clear(&host, &key, false).map_err(self.failed(&raw, "replace what was there"))?;
                symlink(target, &host).map_err(self.failed(&raw, "create the symbolic link"))?;
                self.set_metadata(&host, meta, false).map_err(self.failed(&raw, "set its owner and times"))?;
                self.set_xattrs(&host, &xattrs, &raw, warn);
                self.summary.symlinks += 1;
            }
            Kind::Hardlink { target } => {
                if let Err(reason) = check_name(member.raw_link.as_deref().unwrap_or_default(), "its link target") {
                    return Err(self.refuse(&raw, reason));
                }
                if target == &entry.path {
                } else if self.not_made.contains(&key_of(target)) {
                    // A second name for a node that was not made (whatever is written at a
                    // path takes it out of `not_made`).
                    self.clear(&host, &key, false).map_err(self.failed(&raw, "replace what was there"))?;
                    self.not_made.insert(key.clone());
                    if self.keep_metadata {
                        warn(format!(
                            "{}: member {raw:?} is a hard link to {target}, a device node not made; skipped",
                            self.layer
                        ));
                        self.summary.skipped += 1;
                    }
                    self.layer_paths.insert(key);
                    return Ok(());
                } else {
                    self.hardlink(&host, &key, target, &raw)?;
                }
                self.summary.hardlinks += 1;
            }
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                self.clear(&host, &key, false).map_err(self.failed(&raw, "replace what was there"))?;
                if !self.keep_metadata {
                    // An export takes devices from the layer's entries; none is made.
                    self.not_made.insert(key.clone());
                } else if !self.as_root {
                    self.not_made.insert(key.clone());
                    warn(format!(
                        "{}: member {raw:?} is a device node ({major},{minor}), which only root can make; skipped",
                        self.layer
                    ));
                    self.summary.skipped += 1;
                } else {
                    let kind = match entry.kind {
                        Kind::CharDevice { .. } => FileType::CharacterDevice,
                        _ => FileType::BlockDevice,
                    };
                    self.special(&host, kind, rustix::fs::makedev(*major, *minor), meta, &raw)?;
                    self.set_xattrs(&host, &xattrs, &raw, warn);
                }
            }
            Kind::Fifo => {
                self.clear(&host, &key, false).map_err(self.failed(&raw, "replace what was there"))?;
                if self.keep_metadata {
                    self.special(&host, FileType::Fifo, 0, meta, &raw)?;
                    self.set_xattrs(&host, &xattrs, &raw, warn);
                } else {
                    self.not_made.insert(key.clone());
                }
            }
            Kind::Whiteout { .. } | Kind::Opaque { .. } | Kind::AufsMeta | Kind::Other { .. } => {}
        }
        self.layer_paths.insert(key);
        Ok(())
    }

    /// Sets every directory's mode, owner and time, children before their parents (so a
    /// read-only directory still got its children, and writing them did not move its mtime).
    pub(crate) fn finish(&mut self) -> Result<(), Error> {
        if !self.keep_metadata {
            return Ok(());
        }
        let dirs = std::mem::take(&mut self.dirs);
        for (key, meta) in dirs.iter().rev() {
            let host = self.root.join(key.replace('\0', "/"));
            match fs::symlink_metadata(&host) {
                Ok(m) if m.is_dir() => {}
                _ => continue,
            }
            self.set_metadata(&host, *meta, true).map_err(Error::io("set the mode, owner and time of", &host))?;
        }
        Ok(())
    }

    fn write_file<R: Read>(
        &mut self,
        host: &Path,
        content: &mut R,
        meta: DirMeta,
        raw: &str,
        xattrs: &[(String, Vec<u8>)],
        warn: &mut dyn FnMut(String),
    ) -> Result<u64, Error> {
        // create_new: never opened through whatever clear() left (nothing), never a link.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(host)
            .map_err(self.failed(raw, "create the file"))?;
        let mut written = 0u64;
        loop {
            let n = match content.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.failed(raw, "read its content from the layer")(e)),
            };
            file.write_all(&self.buf[..n]).map_err(self.failed(raw, "write the file"))?;
            written += n as u64;
        }
        if self.keep_metadata {
            if self.as_root {
                // Before the extended attributes: a change of owner drops file capabilities.
                let owner = id(meta.uid).and_then(|uid| fchown(&file, Some(uid), Some(id(meta.gid)?)));
                owner.map_err(self.failed(raw, "set its owner"))?;
            }
            for (name, value) in xattrs {
                if let Err(e) = rustix::fs::fsetxattr(&file, name.as_str(), value, rustix::fs::XattrFlags::empty()) {
                    warn(self.xattr_warning(raw, name, e.into()));
                }
            }
            let set = || -> io::Result<()> {
                file.set_permissions(fs::Permissions::from_mode(meta.mode))?;
                let time = UNIX_EPOCH + Duration::from_secs(meta.mtime.unwrap_or(0));
                file.set_times(FileTimes::new().set_accessed(time).set_modified(time))
            };
            set().map_err(self.failed(raw, "set its mode, owner and time"))?;
        }
        Ok(written)
    }

    fn hardlink(&mut self, host: &Path, key: &str, target: &str, raw: &str) -> Result<(), Error> {
        let missing = || format!("it is a hard link to {target}, which no member before it created");
        let target_host = match self.lookup(target).map_err(self.failed(raw, "find its link target"))? {
            Lookup::Found(p) => p,
            Lookup::Missing => return Err(self.refuse(raw, missing())),
            Lookup::ThroughSymlink(dir) => {
                let reason = format!("it is a hard link to {target}, whose parent {dir} is a symbolic link");
                return Err(self.refuse(raw, reason));
            }
        };
        match fs::symlink_metadata(&target_host) {
            Ok(m) if m.is_dir() => return Err(self.refuse(raw, format!("it is a hard link to {target}, a directory"))),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(self.refuse(raw, missing())),
            Err(e) => return Err(self.failed(raw, "find its link target")(e)),
        }
        self.clear(host, key, false).map_err(self.failed(raw, "replace what was there"))?;
        // linkat without AT_SYMLINK_FOLLOW: a link to a symbolic link names the link itself.
        fs::hard_link(&target_host, host).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => self.refuse(raw, missing()),
            _ => self.failed(raw, "create the hard link")(e),
        })
    }

    fn special(&mut self, host: &Path, kind: FileType, dev: u64, meta: DirMeta, raw: &str) -> Result<(), Error> {
        rustix::fs::mknodat(CWD, host, kind, Mode::from_raw_mode(0o600), dev)
            .map_err(|e| self.failed(raw, "create the node")(e.into()))?;
        self.set_metadata(host, meta, true).map_err(self.failed(raw, "set its mode, owner and time"))?;
        self.summary.specials += 1;
        Ok(())
    }

    /// Owner (as root), mode (when `mode`; symbolic links have none) and times of what is at
    /// `host`, which this unpack made itself; never follows a symbolic link there.
    fn set_metadata(&self, host: &Path, meta: DirMeta, mode: bool) -> io::Result<()> {
        if !self.keep_metadata {
            return Ok(());
        }
        if self.as_root {
            lchown(host, Some(id(meta.uid)?), Some(id(meta.gid)?))?;
        }
        if mode {
            fs::set_permissions(host, fs::Permissions::from_mode(meta.mode))?;
        }
        if let Some(mtime) = meta.mtime {
            let time = Timespec { tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX), tv_nsec: 0 };
            let times = Timestamps { last_access: time, last_modification: time };
            rustix::fs::utimensat(CWD, host, &times, AtFlags::SYMLINK_NOFOLLOW)?;
        }
        Ok(())
    }

    /// Sets `xattrs` on what is at `host` (never following a link); one that cannot be set
    /// (not root, or a file system without them) is a warning, as with umoci.
    fn set_xattrs(&self, host: &Path, xattrs: &[(String, Vec<u8>)], raw: &str, warn: &mut dyn FnMut(String)) {
        if !self.keep_metadata {
            return;
        }
        for (name, value) in xattrs {
            if let Err(e) = rustix::fs::lsetxattr(host, name.as_str(), value, rustix::fs::XattrFlags::empty()) {
                warn(self.xattr_warning(raw, name, e.into()));
            }
        }
    }

    fn xattr_warning(&self, raw: &str, name: &str, e: io::Error) -> String {
        format!("{}: member {raw:?}: extended attribute {name} not set ({e})", self.layer)
    }

    fn refuse(&self, member: &str, reason: String) -> Error {
        Error::Refused { layer: self.layer.clone(), member: member.to_owned(), reason }
    }

    fn failed(&self, member: &str, action: &'static str) -> impl FnOnce(io::Error) -> Error {
        let (layer, member) = (self.layer.clone(), member.to_owned());
        move |source| Error::Member { layer, member, action, source }
    }
}

fn id(n: u64) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("owner id {n} is too large")))
}
