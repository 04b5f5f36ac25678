//! Reading a layer blob from a blocking `impl Read` (a file, a pipe): a thin loop over the
//! push decoder ([`LayerDecoder`]: read a chunk, feed it, take the events), so there is one
//! parser whatever the source. Gzip, zstd or plain tar (told apart by their first bytes), one
//! typed entry per tar member, whiteouts recognised, never the whole layer in memory.
//!
//! The entry types live here: [`StoredEntry`] and its [`Kind`], named the way a runtime
//! sees them.

use std::io::{self, Read, Write};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::decode::{Event, LayerDecoder, MemberHeader};
use crate::error::Error;
use crate::media_type::Compression;

/// A file name starting with this deletes the rest of the name from the layers below.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// A file with this name hides everything the layers below have in its directory.
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// Names starting with this (other than [`OPAQUE_WHITEOUT`]) are aufs bookkeeping
/// (`.wh..wh.plnk`, `.wh..wh.aufs`), which runtimes skip.
pub const WHITEOUT_META_PREFIX: &str = ".wh..wh.";

/// Bytes read from the source at a time.
const CHUNK: usize = 64 << 10;

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

/// One tar member of a layer, as stored. Deserialisable so a listing can travel (worker →
/// page) and be read back from `ls --json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// Absolute and normalised: `/`, `/etc`, `/etc/.wh.motd` (no `./`, no trailing `/`).
    pub path: String,
    #[serde(flatten)]
    pub kind: Kind,
    /// Permission bits (`0o7777` at most).
    #[serde(serialize_with = "octal", deserialize_with = "from_octal")]
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

/// A layer blob being read from a blocking source: construct with [`LayerReader::new`],
/// then walk [`LayerReader::entries`], take [`LayerReader::next_member`] with contents, or
/// [`LayerReader::extract`] one file.
pub struct LayerReader<R: Read> {
    blob: R,
    decoder: LayerDecoder,
    chunk: Vec<u8>,
}

impl<R: Read> std::fmt::Debug for LayerReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerReader").field("decoder", &self.decoder).finish_non_exhaustive()
    }
}

impl<R: Read> LayerReader<R> {
    /// Starts reading `blob`, a gzip- or zstd-compressed or plain tar, recognised by its first
    /// bytes. `what` names the layer in errors, usually its digest. A blob that is not a layer
    /// at all (empty, neither compressed nor a tar) is an error here already.
    pub fn new(what: &str, blob: R) -> Result<LayerReader<R>, Error> {
        LayerReader::open(what, blob, true)
    }

    /// [`LayerReader::new`] for a caller that checks the whole blob against its digest once
    /// it has read it: gzip's CRC-32 (and zstd's checksum) is then redundant and not checked.
    pub fn new_digest_checked(what: &str, blob: R) -> Result<LayerReader<R>, Error> {
        LayerReader::open(what, blob, false)
    }

    fn open(what: &str, blob: R, check_crc: bool) -> Result<LayerReader<R>, Error> {
        let mut reader = LayerReader { blob, decoder: LayerDecoder::new(what, check_crc), chunk: vec![0; CHUNK] };
        reader.wait()?;
        Ok(reader)
    }

    /// How the blob turned out to be compressed.
    pub fn compression(&self) -> Compression {
        self.decoder.compression()
    }

    /// Feeds the decoder until it has an event ready (after the end, it always has).
    fn wait(&mut self) -> Result<(), Error> {
        while !self.decoder.ready()? {
            let n = loop {
                match self.blob.read(&mut self.chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            match n {
                Ok(0) => self.decoder.finish(),
                Ok(n) => self.decoder.feed(&self.chunk[..n]),
                Err(source) => {
                    let what = self.decoder.what().to_owned();
                    return Err(Error::LayerRead { what, entries: self.decoder.members(), source });
                }
            }
        }
        Ok(())
    }

    /// The next event; [`Event::End`] again once the end was reached.
    fn next_event(&mut self) -> Result<Event<'_>, Error> {
        self.wait()?;
        Ok(self.decoder.poll()?.unwrap_or(Event::End))
    }

    /// The next member, its content read on demand; `None` at the end of the archive.
    /// Content left unread is skipped when the next member is asked for.
    pub fn next_member(&mut self) -> Result<Option<Member<'_, R>>, Error> {
        loop {
            match self.next_event()? {
                Event::Member(header) => return Ok(Some(Member { header, reader: self, held: Vec::new(), at: 0 })),
                Event::Data(_) => continue,
                Event::End => return Ok(None),
            }
        }
    }

    /// The members in stream order. Iteration stops after the first error.
    pub fn entries(&mut self) -> Result<Entries<'_, R>, Error> {
        Ok(Entries { reader: self, done: false })
    }

    /// Copies the content of the regular file at `path` (absolute, as listed: `/etc/motd`) to
    /// `out` and returns its size. Reading stops right after that member, so the rest of the
    /// blob is not read: a caller that checks the blob's digest reads the rest itself. The
    /// first member at `path` is taken (a layer holds a path once unless its writer erred).
    pub fn extract(&mut self, path: &str, out: &mut impl Write) -> Result<u64, Error> {
        let mut extraction = Extraction::new(self.decoder.what(), path);
        loop {
            let event = self.next_event()?;
            if let Some(size) = extraction.take(event, out)? {
                return Ok(size);
            }
        }
    }
}

/// Iterator over a layer's members; see [`LayerReader::entries`].
pub struct Entries<'a, R: Read> {
    reader: &'a mut LayerReader<R>,
    done: bool,
}

impl<R: Read> std::fmt::Debug for Entries<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entries").field("reader", &self.reader).finish()
    }
}

impl<R: Read> Iterator for Entries<'_, R> {
    type Item = Result<StoredEntry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.reader.next_member().map(|member| member.map(|m| m.header.entry.clone()));
        self.done = !matches!(next, Ok(Some(_)));
        next.transpose()
    }
}

/// One member of a layer and its content, which reads as the member's bytes (a regular
/// file's; nothing for most other kinds). Its header fields are there through `Deref`:
/// `member.entry`, `member.raw_path`, `member.raw_link`, `member.xattrs`.
pub struct Member<'a, R: Read> {
    header: Box<MemberHeader>,
    reader: &'a mut LayerReader<R>,
    /// Content handed out by the decoder and not yet read.
    held: Vec<u8>,
    at: usize,
}

impl<R: Read> std::fmt::Debug for Member<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("header", &self.header).finish_non_exhaustive()
    }
}

impl<R: Read> std::ops::Deref for Member<'_, R> {
    type Target = MemberHeader;

    fn deref(&self) -> &MemberHeader {
        &self.header
    }
}

impl<R: Read> Read for Member<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.held.len() {
            if self.reader.decoder.content_left() == 0 || buf.is_empty() {
                return Ok(0);
            }
            match self.reader.next_event().map_err(io::Error::other)? {
                Event::Data(data) => {
                    self.held.clear();
                    self.held.extend_from_slice(data);
                    self.at = 0;
                }
                // The decoder ends a member's content only after all of it, or with an error.
                Event::Member(_) | Event::End => return Ok(0),
            }
        }
        let n = buf.len().min(self.held.len() - self.at);
        buf[..n].copy_from_slice(&self.held[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// One regular file taken out of a layer's events, for every reader that extracts (the
/// blocking [`LayerReader::extract`], the page's worker): finds the member, writes its
/// content, and says when it is whole, so the caller can stop decoding there.
#[derive(Debug)]
pub struct Extraction {
    what: String,
    path: String,
    /// Content bytes still to come once the member is found.
    left: Option<u64>,
    size: u64,
    members: u64,
}

impl Extraction {
    /// Extracting `path` (absolute, as listed) from the layer `what` names in errors.
    pub fn new(what: &str, path: &str) -> Extraction {
        Extraction { what: what.to_owned(), path: path.to_owned(), left: None, size: 0, members: 0 }
    }

    /// Takes the next event; the file's size once all of it is written to `out`.
    pub fn take(&mut self, event: Event<'_>, out: &mut impl Write) -> Result<Option<u64>, Error> {
        let missing =
            |problem: String| Error::LayerMember { what: self.what.clone(), path: self.path.clone(), problem };
        match event {
            Event::Member(header) if self.left.is_none() => {
                self.members += 1;
                if header.entry.path != self.path {
                    return Ok(None);
                }
                if header.entry.kind != Kind::File {
                    let kind = describe(&header.entry.kind);
                    return Err(missing(format!("the member there is not a regular file but {kind}")));
                }
                self.size = header.content;
                self.left = Some(header.content);
            }
            Event::Data(data) => {
                let Some(left) = self.left.as_mut() else { return Ok(None) };
                out.write_all(data).map_err(|source| Error::ExtractWrite {
                    what: self.what.clone(),
                    path: self.path.clone(),
                    source,
                })?;
                *left -= data.len() as u64;
            }
            Event::End if self.left.is_none() => {
                let members = self.members;
                return Err(missing(format!("the layer has no member at that path ({members} members read)")));
            }
            Event::Member(_) | Event::End => {}
        }
        Ok((self.left == Some(0)).then_some(self.size))
    }
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
pub(crate) fn whiteout(path: &str) -> Option<Kind> {
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

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
