//! Reading a layer blob as it arrives: gzip, zstd or plain tar (told apart by their first bytes), one
//! typed entry per tar member, whiteouts recognised, file contents skipped, never the whole
//! layer in memory.
//!
//! The blob is any `impl Read`: a file, a download fed through a channel, a browser stream.
//! Long names and link targets (PAX records, GNU long names) are resolved by the `tar` crate;
//! what is ours is naming the entries the way a runtime sees them and reporting bad input
//! against the layer's digest.

use std::io::{self, BufReader, Chain, Cursor, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tar::EntryType;

use super::gunzip::Gunzip;
use super::unzstd::Unzstd;
use crate::error::Error;
use crate::media_type::Compression;

/// A file name starting with this deletes the rest of the name from the layers below.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// A file with this name hides everything the layers below have in its directory.
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// Names starting with this (other than [`OPAQUE_WHITEOUT`]) are aufs bookkeeping
/// (`.wh..wh.plnk`, `.wh..wh.aufs`), which runtimes skip.
pub const WHITEOUT_META_PREFIX: &str = ".wh..wh.";

const BLOCK: u64 = 512;

/// What a tar member is. Paths in it are absolute within the image (`/bin/busybox`).
/// Deserialisable so a listing can travel (page ⇄ worker) and be read back from `ls --json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink {
        /// As stored: relative targets are relative to the link's directory.
        target: String,
    },
    Hardlink {
        /// The path of an earlier member, normalised like every path.
        target: String,
    },
    #[serde(rename = "char")]
    CharDevice {
        major: u32,
        minor: u32,
    },
    #[serde(rename = "block")]
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
    /// `dir/.wh.name`: deletes `hides` (and everything under it) from the layers below.
    Whiteout {
        hides: String,
    },
    /// `dir/.wh..wh..opq`: the layers below contribute nothing to `dir`.
    Opaque {
        dir: String,
    },
    /// aufs bookkeeping (`.wh..wh.plnk`), not part of the filesystem.
    #[serde(rename = "aufs-meta")]
    AufsMeta,
    /// A type flag this reader does not know (shown, never applied).
    Other {
        type_flag: char,
    },
}

impl Kind {
    /// The kind's name, as `ls --json` writes it in `type`: `file`, `dir`, `hardlink`, …
    pub fn name(&self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink { .. } => "symlink",
            Kind::Hardlink { .. } => "hardlink",
            Kind::CharDevice { .. } => "char",
            Kind::BlockDevice { .. } => "block",
            Kind::Fifo => "fifo",
            Kind::Whiteout { .. } => "whiteout",
            Kind::Opaque { .. } => "opaque",
            Kind::AufsMeta => "aufs-meta",
            Kind::Other { .. } => "other",
        }
    }

    /// What a listing shows beside the name: a link's target, a device's numbers, the path a
    /// whiteout deletes or an opaque marker hides, an unknown type flag.
    pub fn detail(&self) -> Option<String> {
        match self {
            Kind::Symlink { target } | Kind::Hardlink { target } => Some(target.clone()),
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => Some(format!("{major},{minor}")),
            Kind::Whiteout { hides } => Some(hides.clone()),
            Kind::Opaque { dir } => Some(dir.clone()),
            Kind::Other { type_flag } => Some(format!("type {type_flag:?}")),
            Kind::File | Kind::Dir | Kind::Fifo | Kind::AufsMeta => None,
        }
    }
}

/// One tar member of a layer, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredEntry {
    /// Absolute and normalised: `/`, `/etc`, `/etc/.wh.motd` (no `./`, no trailing `/`).
    pub path: String,
    #[serde(flatten)]
    pub kind: Kind,
    /// Permission bits (`0o7777` at most).
    #[serde(serialize_with = "octal")]
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Bytes of content (0 for everything but regular files).
    pub size: u64,
    /// Seconds since 1970.
    pub mtime: u64,
}

/// Modes in JSON read as people write them: `"0755"`.
pub(crate) fn octal<S: Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{mode:04o}"))
}

/// Reads a mode written by [`octal`].
pub(crate) fn from_octal<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let text = String::deserialize(d)?;
    u32::from_str_radix(&text, 8).map_err(|e| serde::de::Error::custom(format!("mode {text:?} is not octal: {e}")))
}

type Sniffed<R> = Chain<Cursor<Vec<u8>>, R>;

/// The tar stream inside a blob.
enum Decoded<R: Read> {
    Plain(Sniffed<R>),
    Gzip(Box<MultiGzDecoder<Sniffed<R>>>),
    /// gzip without its CRC-32, for a blob the caller holds to its digest.
    GzipDigestChecked(Box<Gunzip<BufReader<Sniffed<R>>>>),
    Zstd(Box<Unzstd<BufReader<Sniffed<R>>>>),
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Plain(r) => r.read(buf),
            Decoded::Gzip(r) => r.read(buf),
            Decoded::GzipDigestChecked(r) => r.read(buf),
            Decoded::Zstd(r) => r.read(buf),
        }
    }
}

/// Supplies the padding of the last member when the stream ends right after its data.
///
/// umoci 0.4's `insert` writes layers that stop there, without padding or end-of-archive
/// blocks; Go's archive/tar (which runtimes and umoci use) reads them as complete, so this
/// reader does too. A stream that ends anywhere else is still reported as truncated.
struct Padded<R> {
    inner: R,
    pos: u64,
    /// Where the data of the member last handed out ends; set by [`Entries`].
    data_end: Arc<AtomicU64>,
    padding: u64,
}

impl<R: Read> Read for Padded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.padding == 0 && !buf.is_empty() {
            let n = self.inner.read(buf)?;
            if n > 0 {
                self.pos += n as u64;
                return Ok(n);
            }
            let end = self.data_end.swap(u64::MAX, Ordering::Relaxed);
            if self.pos != end || end.is_multiple_of(BLOCK) {
                return Ok(0);
            }
            self.padding = BLOCK - end % BLOCK;
        }
        let n = buf.len().min(self.padding as usize);
        buf[..n].fill(0);
        self.padding -= n as u64;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A layer blob being read: construct with [`LayerReader::new`], then walk
/// [`LayerReader::entries`].
pub struct LayerReader<R: Read> {
    what: String,
    compression: Compression,
    archive: tar::Archive<Padded<Decoded<R>>>,
    data_end: Arc<AtomicU64>,
}

impl<R: Read> std::fmt::Debug for LayerReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerReader").field("what", &self.what).field("compression", &self.compression).finish()
    }
}

impl<R: Read> LayerReader<R> {
    /// Starts reading `blob`, a gzip- or zstd-compressed or plain tar, recognised by its first bytes
    /// (the media type is not trusted: registries hold mislabelled layers). `what` names the
    /// layer in errors, usually its digest.
    pub fn new(what: &str, blob: R) -> Result<LayerReader<R>, Error> {
        LayerReader::open(what, blob, true)
    }

    /// [`LayerReader::new`] for a caller that checks the whole blob against its digest once
    /// it has read it: gzip's CRC-32 (and zstd's checksum) is then redundant and not checked
    /// (see [`Gunzip`]).
    pub fn new_digest_checked(what: &str, blob: R) -> Result<LayerReader<R>, Error> {
        LayerReader::open(what, blob, false)
    }

    fn open(what: &str, mut blob: R, check_crc: bool) -> Result<LayerReader<R>, Error> {
        let format = |problem: String| Error::LayerFormat { what: what.to_owned(), problem };
        let mut head = Vec::with_capacity(BLOCK as usize);
        (&mut blob).take(BLOCK).read_to_end(&mut head).map_err(|source| Error::LayerRead {
            what: what.to_owned(),
            entries: 0,
            source,
        })?;
        let compression = Compression::sniff(&head);
        let decoded = match compression {
            _ if head.is_empty() => return Err(format("the blob is empty".into())),
            Compression::Gzip if check_crc => {
                Decoded::Gzip(Box::new(MultiGzDecoder::new(Cursor::new(head).chain(blob))))
            }
            Compression::Gzip => Decoded::GzipDigestChecked(Box::new(Gunzip::new(BufReader::with_capacity(
                64 << 10,
                Cursor::new(head).chain(blob),
            )))),
            Compression::Zstd => Decoded::Zstd(Box::new(Unzstd::new(
                BufReader::with_capacity(64 << 10, Cursor::new(head).chain(blob)),
                check_crc,
            ))),
            Compression::None if is_tar_header(&head) => Decoded::Plain(Cursor::new(head).chain(blob)),
            Compression::None => {
                let start = String::from_utf8_lossy(&head[..head.len().min(16)]).into_owned();
                return Err(format(format!(
                    "it is neither gzip-compressed nor a tar archive (it starts with {start:?})"
                )));
            }
        };
        let data_end = Arc::new(AtomicU64::new(u64::MAX));
        let padded = Padded { inner: decoded, pos: 0, data_end: data_end.clone(), padding: 0 };
        Ok(LayerReader { what: what.to_owned(), compression, archive: tar::Archive::new(padded), data_end })
    }

    /// How the blob turned out to be compressed.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Copies the content of the regular file at `path` (absolute, as listed: `/etc/motd`) to
    /// `out` and returns its size. Reading stops right after that member, so the rest of the
    /// blob is not read: a caller that checks the blob's digest reads the rest itself. The
    /// first member at `path` is taken (a layer holds a path once unless its writer erred).
    pub fn extract(&mut self, path: &str, out: &mut impl Write) -> Result<u64, Error> {
        let what = self.what.clone();
        let missing = |problem: String| Error::LayerMember { what: what.clone(), path: path.to_owned(), problem };
        let mut entries = self.entries()?;
        loop {
            let mut entry = match entries.inner.next() {
                None => {
                    return Err(missing(format!(
                        "the layer has no member at that path ({} members read)",
                        entries.count
                    )))
                }
                Some(Err(e)) => return Err(entries.read_error(e)),
                Some(Ok(entry)) => entry,
            };
            entries.data_end.store(entry.raw_file_position() + entry.size(), Ordering::Relaxed);
            let Some(stored) = stored(&entry).map_err(|problem| entries.format(problem))? else { continue };
            entries.count += 1;
            if stored.path != path {
                continue;
            }
            if stored.kind != Kind::File {
                return Err(missing(format!("the member there is not a regular file but {}", describe(&stored.kind))));
            }
            let mut buf = vec![0u8; 64 << 10];
            let mut done = 0u64;
            loop {
                let n = entry.read(&mut buf).map_err(|e| entries.read_error(e))?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n]).map_err(|source| Error::ExtractWrite {
                    what: what.clone(),
                    path: path.to_owned(),
                    source,
                })?;
                done += n as u64;
            }
            if done != stored.size {
                let e = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{path} ends after {done} of its {} bytes", stored.size),
                );
                return Err(entries.read_error(e));
            }
            return Ok(done);
        }
    }

    /// The members in stream order, each with its content (for unpacking). Iteration stops
    /// after the first error.
    pub fn members(&mut self) -> Result<Members<'_, R>, Error> {
        self.entries().map(Members)
    }

    /// The members in stream order. Iteration stops after the first error.
    pub fn entries(&mut self) -> Result<Entries<'_, R>, Error> {
        let inner = self.archive.entries().map_err(|source| Error::LayerRead {
            what: self.what.clone(),
            entries: 0,
            source,
        })?;
        Ok(Entries {
            inner,
            what: &self.what,
            compression: self.compression,
            data_end: &self.data_end,
            count: 0,
            done: false,
        })
    }
}

/// Iterator over a layer's members; see [`LayerReader::entries`].
pub struct Entries<'a, R: Read> {
    inner: tar::Entries<'a, Padded<Decoded<R>>>,
    what: &'a str,
    compression: Compression,
    data_end: &'a AtomicU64,
    count: u64,
    done: bool,
}

impl<R: Read> std::fmt::Debug for Entries<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entries").field("what", &self.what).field("count", &self.count).finish()
    }
}

impl<R: Read> Iterator for Entries<'_, R> {
    type Item = Result<StoredEntry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_member().map(|member| member.map(|(_, entry)| entry))
    }
}

impl<'a, R: Read> Entries<'a, R> {
    /// The next member (its tar entry, positioned at its content, and its typed view),
    /// skipping archive metadata.
    #[allow(clippy::type_complexity)]
    fn next_member(&mut self) -> Option<Result<(tar::Entry<'a, Padded<Decoded<R>>>, StoredEntry), Error>> {
        while !self.done {
            let result = match self.inner.next()? {
                Ok(entry) => {
                    self.data_end.store(entry.raw_file_position() + entry.size(), Ordering::Relaxed);
                    match stored(&entry) {
                        Ok(Some(stored)) => Ok(Some((entry, stored))),
                        Ok(None) => Ok(None),
                        Err(problem) => Err(self.format(problem)),
                    }
                }
                Err(e) => Err(self.read_error(e)),
            };
            match result {
                Ok(None) => continue,
                Ok(Some(member)) => {
                    self.count += 1;
                    return Some(Ok(member));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// Iterator over a layer's members with their contents; see [`LayerReader::members`].
pub struct Members<'a, R: Read>(Entries<'a, R>);

impl<R: Read> std::fmt::Debug for Members<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Members").field(&self.0).finish()
    }
}

impl<'a, R: Read> Iterator for Members<'a, R> {
    type Item = Result<Member<'a, R>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_member().map(|member| {
            member.map(|(content, entry)| Member {
                raw_path: String::from_utf8_lossy(&content.path_bytes()).into_owned(),
                raw_link: content.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()),
                entry,
                content,
            })
        })
    }
}

/// One member of a layer and its content, which reads as the member's bytes (a regular
/// file's; nothing for other kinds). The content must be read before the next member is
/// asked for: what is left unread is skipped then.
pub struct Member<'a, R: Read> {
    /// The member as [`LayerReader::entries`] lists it.
    pub entry: StoredEntry,
    /// The name as stored, before it was normalised (`./etc/motd`, `/etc/motd`, `a/../b`):
    /// an unpacker refuses names that a careful writer never produces.
    pub raw_path: String,
    /// A link's target as stored (hard links' targets are normalised in `entry`).
    pub raw_link: Option<String>,
    content: tar::Entry<'a, Padded<Decoded<R>>>,
}

impl<R: Read> std::fmt::Debug for Member<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("entry", &self.entry).field("raw_path", &self.raw_path).finish_non_exhaustive()
    }
}

impl<R: Read> Member<'_, R> {
    /// The extended attributes the member carries: PAX `SCHILY.xattr.NAME` records, as Go's
    /// archive/tar, GNU tar and umoci write them (`security.capability` and the like).
    pub fn xattrs(&mut self) -> io::Result<Vec<(String, Vec<u8>)>> {
        let mut xattrs = Vec::new();
        if let Some(records) = self.content.pax_extensions()? {
            for record in records {
                let record = record?;
                if let Some(name) = record.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                    xattrs.push((name.to_owned(), record.value_bytes().to_vec()));
                }
            }
        }
        Ok(xattrs)
    }
}

impl<R: Read> Read for Member<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.content.read(buf)
    }
}

impl<R: Read> Entries<'_, R> {
    fn format(&self, problem: String) -> Error {
        Error::LayerFormat { what: self.what.to_owned(), problem }
    }

    /// A failure before the first member means the content is not a tar at all; later, the
    /// stream broke or was cut short.
    fn read_error(&self, source: io::Error) -> Error {
        if self.count > 0 {
            return Error::LayerRead { what: self.what.to_owned(), entries: self.count, source };
        }
        self.format(match self.compression {
            Compression::Gzip => format!("it starts like gzip, but is not a gzip-compressed tar archive ({source})"),
            Compression::Zstd => format!("it starts like zstd, but is not a zstd-compressed tar archive ({source})"),
            _ => format!("it is not a valid tar archive ({source})"),
        })
    }
}

/// The typed view of one member; `Ok(None)` for archive metadata that is no member at all
/// (a PAX global header).
fn stored<R: Read>(entry: &tar::Entry<'_, R>) -> Result<Option<StoredEntry>, String> {
    let header = entry.header();
    let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
    let bad = |field: &str, e: io::Error| format!("member {raw_path:?} has an unreadable {field} ({e})");
    let path = normalise(&raw_path)?;
    let entry_type = header.entry_type();
    let link = || entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
    let device = || -> Result<(u32, u32), String> {
        let major = header.device_major().map_err(|e| bad("device number", e))?.unwrap_or(0);
        let minor = header.device_minor().map_err(|e| bad("device number", e))?.unwrap_or(0);
        Ok((major, minor))
    };
    let kind = match entry_type {
        EntryType::XGlobalHeader => return Ok(None),
        // Old tars mark directories only by the trailing slash.
        EntryType::Regular if raw_path.ends_with('/') => Kind::Dir,
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Kind::File,
        EntryType::Directory => Kind::Dir,
        EntryType::Symlink => Kind::Symlink { target: link() },
        EntryType::Link => {
            let target = link();
            let target = normalise(&target).map_err(|_| {
                format!(
                    "member {raw_path:?} is a hard link to {target:?}, which climbs out of the image root with `..`"
                )
            })?;
            Kind::Hardlink { target }
        }
        EntryType::Char => device().map(|(major, minor)| Kind::CharDevice { major, minor })?,
        EntryType::Block => device().map(|(major, minor)| Kind::BlockDevice { major, minor })?,
        EntryType::Fifo => Kind::Fifo,
        other => Kind::Other { type_flag: char::from(other.as_byte()) },
    };
    let kind = whiteout(&path).unwrap_or(kind);
    Ok(Some(StoredEntry {
        mode: header.mode().map_err(|e| bad("mode", e))? & 0o7777,
        uid: header.uid().map_err(|e| bad("uid", e))?,
        gid: header.gid().map_err(|e| bad("gid", e))?,
        size: if kind == Kind::File { entry.size() } else { 0 },
        mtime: header.mtime().map_err(|e| bad("mtime", e))?,
        path,
        kind,
    }))
}

/// A member's kind in words, for errors.
fn describe(kind: &Kind) -> String {
    match kind {
        Kind::File => "a regular file".into(),
        Kind::Dir => "a directory".into(),
        Kind::Symlink { target } => format!("a symbolic link to {target}"),
        Kind::Hardlink { target } => format!("a hard link to {target} (download that path)"),
        Kind::CharDevice { .. } | Kind::BlockDevice { .. } => "a device".into(),
        Kind::Fifo => "a fifo".into(),
        Kind::Whiteout { hides } => format!("a whiteout deleting {hides}"),
        Kind::Opaque { dir } => format!("an opaque marker for {dir}"),
        Kind::AufsMeta => "aufs metadata".into(),
        Kind::Other { type_flag } => format!("a member of unknown tar type {type_flag:?}"),
    }
}

/// What a `.wh.` name means, whatever its tar type (runtimes go by the name alone).
fn whiteout(path: &str) -> Option<Kind> {
    let (dir, name) = split(path);
    let hidden = name.strip_prefix(WHITEOUT_PREFIX)?;
    Some(if name == OPAQUE_WHITEOUT {
        Kind::Opaque { dir: dir.to_owned() }
    } else if name.starts_with(WHITEOUT_META_PREFIX) {
        Kind::AufsMeta
    } else {
        Kind::Whiteout { hides: join(dir, hidden) }
    })
}

/// `./usr//bin/` → `/usr/bin`; `a/../b` → `/b`. A path that climbs above the root is refused,
/// as runtimes refuse to unpack it.
pub(crate) fn normalise(raw: &str) -> Result<String, String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(format!("member {raw:?} climbs out of the image root with `..`"));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// `/a/b` → (`/a`, `b`); `/a` → (`/`, `a`).
pub(crate) fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => ("/", path),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Whether a 512-byte block is a tar header: all zeros (an empty archive) or a valid checksum.
fn is_tar_header(block: &[u8]) -> bool {
    if block.len() != BLOCK as usize {
        return false;
    }
    if block.iter().all(|b| *b == 0) {
        return true;
    }
    let stored = std::str::from_utf8(&block[148..156])
        .ok()
        .map(|s| s.trim_matches(|c: char| c == ' ' || c == '\0'))
        .and_then(|s| u32::from_str_radix(s, 8).ok());
    let sum: u32 =
        block.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u32::from(*b) }).sum();
    stored == Some(sum)
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
