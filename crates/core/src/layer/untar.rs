//! A tar stream parsed as its bytes arrive: 512-byte headers (ustar, GNU, v7), GNU long names
//! and link targets, PAX `path`, `linkpath`, `size`, `uid`, `gid` and `SCHILY.xattr.*` records,
//! each member typed as a layer sees it ([`StoredEntry`]). `tar::Header` reads the fields;
//! the order of things, the limits and what counts as the end are ours, with the `tar`
//! crate's and Go's archive/tar's answers (which runtimes use) where they agree.

use std::io;
use std::ops::Range;

use tar::{EntryType, Header};

use super::read::{normalise, whiteout, Kind, StoredEntry};

const BLOCK: u64 = 512;
/// An extension member (PAX records, a GNU long name) larger than this is refused rather
/// than held: real ones are a few hundred bytes.
const MAX_EXTENSION: u64 = 1 << 20;

/// One member's header, everything but its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberHeader {
    /// The member as a listing shows it.
    pub entry: StoredEntry,
    /// The name as stored, before it was normalised (`./etc/motd`, `a/../b`): an unpacker
    /// refuses names that a careful writer never produces.
    pub raw_path: String,
    /// A link's target as stored (hard links' targets are normalised in `entry`).
    pub raw_link: Option<String>,
    /// PAX `SCHILY.xattr.NAME` records, as Go's archive/tar, GNU tar and umoci write them.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Bytes of content that follow the header (a regular file's, or whatever another kind
    /// carries; `entry.size` is 0 for those).
    pub content: u64,
}

/// What went wrong, as the layer decoder reports it.
#[derive(Debug)]
pub(crate) enum Problem {
    /// A member the reader understands but refuses (a path out of the root).
    Format(String),
    /// The stream is broken or cut short.
    Broken(io::Error),
}

/// What one step of the parser found.
#[derive(Debug)]
pub(crate) enum Found {
    Member(Box<MemberHeader>),
    /// Content of the last member: this range of the input given to [`TarParser::step`].
    Data(Range<usize>),
    End,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Extension {
    Pax,
    LongName,
    LongLink,
    /// A PAX global header: read past, applied to nothing (as the `tar` crate and runtimes).
    Global,
}

#[derive(Debug)]
enum State {
    Header,
    Extension {
        kind: Extension,
        left: u64,
        padding: u64,
    },
    Content {
        left: u64,
        padding: u64,
    },
    /// Padding after content; `after_data` with nothing of it read yet is where a stream may
    /// also end (see [`TarParser::finish`]).
    Padding {
        left: u64,
        after_data: bool,
        full: u64,
    },
    End,
}

/// The parser; see [`TarParser::step`].
#[derive(Debug)]
pub(crate) struct TarParser {
    state: State,
    /// Bytes of tar consumed, for errors.
    offset: u64,
    extension: Vec<u8>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
    /// The member whose content is being read, for errors.
    current: String,
}

impl TarParser {
    pub(crate) fn new() -> TarParser {
        TarParser {
            state: State::Header,
            offset: 0,
            extension: Vec::new(),
            long_name: None,
            long_link: None,
            pax: None,
            current: String::new(),
        }
    }

    /// Reads from the start of `input`; returns how much of it was used and what was found
    /// (`None`: more input is needed, all of `input` that could be used was). Data ranges
    /// lie within `input`.
    pub(crate) fn step(&mut self, input: &[u8]) -> Result<(usize, Option<Found>), Problem> {
        match &mut self.state {
            State::End => Ok((input.len(), Some(Found::End))),
            State::Header => {
                let Some(block) = input.get(..BLOCK as usize) else { return Ok((0, None)) };
                let found = self.header(block)?;
                self.offset += BLOCK;
                Ok((BLOCK as usize, found))
            }
            State::Content { left, padding } => {
                let n = input.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                if n == 0 {
                    return Ok((0, None));
                }
                *left -= n as u64;
                if *left == 0 {
                    self.state = padding_or_header(*padding, true);
                }
                self.offset += n as u64;
                Ok((n, Some(Found::Data(0..n))))
            }
            State::Padding { left, .. } => {
                let n = input.len().min(*left as usize);
                *left -= n as u64;
                if *left == 0 {
                    self.state = State::Header;
                }
                self.offset += n as u64;
                Ok((n, None))
            }
            State::Extension { kind, left, padding } => {
                let n = input.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                if *kind != Extension::Global {
                    self.extension.extend_from_slice(&input[..n]);
                }
                *left -= n as u64;
                self.offset += n as u64;
                if *left == 0 {
                    let (kind, padding) = (*kind, *padding);
                    self.state = padding_or_header(padding, false);
                    self.end_extension(kind)?;
                }
                Ok((n, None))
            }
        }
    }

    /// Bytes of the current member's content not yet stepped over.
    pub(crate) fn content_left(&self) -> u64 {
        match self.state {
            State::Content { left, .. } => left,
            _ => 0,
        }
    }

    /// Checks that the tar may end where its input did.
    pub(crate) fn finish(&self, left: usize) -> Result<(), Problem> {
        let pending = self.long_name.is_some() || self.long_link.is_some() || self.pax.is_some();
        let inside = match &self.state {
            State::End => return Ok(()),
            State::Header if left == 0 && !pending => return Ok(()),
            // umoci 0.4's `insert` writes layers that stop right after the last member's
            // data, without padding or end blocks; Go's archive/tar (which runtimes and umoci
            // use) reads them as complete, so this reader does too.
            State::Padding { left, after_data: true, full } if left == full && !pending => return Ok(()),
            State::Header if left == 0 => "after extension headers, before the member they describe".to_owned(),
            State::Header => format!("inside a tar header at byte {}", self.offset),
            State::Extension { .. } => format!("inside an extension header at byte {}", self.offset),
            State::Content { left, .. } => format!("inside the content of {}, {left} bytes short", self.current),
            State::Padding { .. } => format!("inside the padding after {}", self.current),
        };
        Err(Problem::Broken(io::Error::new(io::ErrorKind::UnexpectedEof, format!("the tar stream ends {inside}"))))
    }

    /// Reads one header block: an extension to gather, a member, or the end.
    fn header(&mut self, block: &[u8]) -> Result<Option<Found>, Problem> {
        if block.iter().all(|b| *b == 0) {
            if self.long_name.is_some() || self.long_link.is_some() || self.pax.is_some() {
                return Err(broken(format!(
                    "the archive ends at byte {} after extension headers, before the member they describe",
                    self.offset
                )));
            }
            self.state = State::End;
            return Ok(Some(Found::End));
        }
        let header = Header::from_byte_slice(block);
        if !checksum_matches(block) {
            return Err(broken(format!("the tar header at byte {} fails its checksum", self.offset)));
        }
        let entry_type = header.entry_type();
        let size = header.entry_size().map_err(|e| broken(format!("the tar header at byte {}: {e}", self.offset)))?;
        let padding = (BLOCK - size % BLOCK) % BLOCK;
        let recognised = header.as_gnu().is_some() || header.as_ustar().is_some();
        let extension = match entry_type {
            EntryType::GNULongName if recognised => Some((Extension::LongName, self.long_name.is_some())),
            EntryType::GNULongLink if recognised => Some((Extension::LongLink, self.long_link.is_some())),
            EntryType::XHeader if recognised => Some((Extension::Pax, self.pax.is_some())),
            EntryType::XGlobalHeader => Some((Extension::Global, false)),
            _ => None,
        };
        if let Some((kind, twice)) = extension {
            if twice {
                return Err(broken(format!(
                    "two extension headers of one kind describe the member at byte {}",
                    self.offset
                )));
            }
            if kind != Extension::Global && size > MAX_EXTENSION {
                return Err(broken(format!(
                    "an extension header at byte {} holds {size} bytes (more than {MAX_EXTENSION})",
                    self.offset
                )));
            }
            self.extension.clear();
            self.state = State::Extension { kind, left: size, padding };
            if size == 0 {
                self.state = padding_or_header(padding, false);
                self.end_extension(kind)?;
            }
            return Ok(None);
        }
        let member = self.member(header, size)?;
        self.current = member.entry.path.clone();
        self.state = match member.content {
            0 => State::Header,
            left => State::Content { left, padding: (BLOCK - left % BLOCK) % BLOCK },
        };
        Ok(Some(Found::Member(Box::new(member))))
    }

    fn end_extension(&mut self, kind: Extension) -> Result<(), Problem> {
        let data = std::mem::take(&mut self.extension);
        match kind {
            Extension::LongName => self.long_name = Some(data),
            Extension::LongLink => self.long_link = Some(data),
            Extension::Pax => {
                // Parsed now so a malformed record is reported against its header.
                pax_records(&data).map_err(|e| broken(format!("the PAX header before byte {}: {e}", self.offset)))?;
                self.pax = Some(data);
            }
            Extension::Global => {}
        }
        Ok(())
    }

    /// The member `header` starts, with the extensions gathered before it applied.
    fn member(&mut self, header: &Header, size: u64) -> Result<MemberHeader, Problem> {
        let pax = self.pax.take().unwrap_or_default();
        let records = pax_records(&pax).map_err(|e| broken(format!("a PAX header: {e}")))?;
        let record = |key: &str| records.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let number = |key: &str| -> Result<Option<u64>, Problem> {
            record(key)
                .map(|v| {
                    std::str::from_utf8(v).ok().and_then(|v| v.parse().ok()).ok_or_else(|| {
                        broken(format!("the PAX record {key}={:?} is not a number", String::from_utf8_lossy(v)))
                    })
                })
                .transpose()
        };
        let trim = |mut name: Vec<u8>| {
            while name.last() == Some(&0) {
                name.pop();
            }
            name
        };
        let raw_path = match (self.long_name.take(), record("path")) {
            (Some(name), _) => String::from_utf8_lossy(&trim(name)).into_owned(),
            (None, Some(path)) => String::from_utf8_lossy(path).into_owned(),
            (None, None) => String::from_utf8_lossy(&header.path_bytes()).into_owned(),
        };
        let raw_link = match (self.long_link.take(), record("linkpath")) {
            (Some(link), _) => Some(String::from_utf8_lossy(&trim(link)).into_owned()),
            (None, Some(link)) => Some(String::from_utf8_lossy(link).into_owned()),
            (None, None) => header.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()),
        };
        let content = number("size")?.unwrap_or(size);
        let xattrs = records
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("SCHILY.xattr.").map(|name| (name.to_owned(), v.to_vec())))
            .collect();
        let format = |problem: String| Problem::Format(problem);
        let bad = |field: &str, e: io::Error| format(format!("member {raw_path:?} has an unreadable {field} ({e})"));
        let path = normalise(&raw_path).map_err(format)?;
        let link = || raw_link.clone().unwrap_or_default();
        let device = || -> Result<(u32, u32), Problem> {
            let major = header.device_major().map_err(|e| bad("device number", e))?.unwrap_or(0);
            let minor = header.device_minor().map_err(|e| bad("device number", e))?.unwrap_or(0);
            Ok((major, minor))
        };
        let kind = match header.entry_type() {
            // Old tars mark directories only by the trailing slash.
            EntryType::Regular if raw_path.ends_with('/') => Kind::Dir,
            EntryType::Regular | EntryType::Continuous => Kind::File,
            EntryType::GNUSparse => {
                return Err(format(format!(
                    "member {raw_path:?} is a GNU sparse file, which layers do not hold and this reader does not read"
                )))
            }
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink { target: link() },
            EntryType::Link => {
                let target = link();
                let target = normalise(&target).map_err(|_| {
                    format(format!(
                        "member {raw_path:?} is a hard link to {target:?}, which climbs out of the image root with `..`"
                    ))
                })?;
                Kind::Hardlink { target }
            }
            EntryType::Char => device().map(|(major, minor)| Kind::CharDevice { major, minor })?,
            EntryType::Block => device().map(|(major, minor)| Kind::BlockDevice { major, minor })?,
            EntryType::Fifo => Kind::Fifo,
            other => Kind::Other { type_flag: char::from(other.as_byte()) },
        };
        let kind = whiteout(&path).unwrap_or(kind);
        let entry = StoredEntry {
            mode: header.mode().map_err(|e| bad("mode", e))? & 0o7777,
            uid: match number("uid")? {
                Some(uid) => uid,
                None => header.uid().map_err(|e| bad("uid", e))?,
            },
            gid: match number("gid")? {
                Some(gid) => gid,
                None => header.gid().map_err(|e| bad("gid", e))?,
            },
            size: if kind == Kind::File { content } else { 0 },
            mtime: header.mtime().map_err(|e| bad("mtime", e))?,
            path,
            kind,
        };
        Ok(MemberHeader { entry, raw_path, raw_link, xattrs, content })
    }
}

fn padding_or_header(padding: u64, after_data: bool) -> State {
    match padding {
        0 => State::Header,
        left => State::Padding { left, after_data, full: left },
    }
}

/// PAX records: `LEN KEY=VALUE\n`, LEN counting the whole record.
fn pax_records(data: &[u8]) -> Result<Vec<(&str, &[u8])>, String> {
    let mut records = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        // Padding some writers leave after the last record.
        if rest.iter().all(|b| *b == 0) {
            break;
        }
        let space = rest.iter().position(|b| *b == b' ').ok_or("a record has no length")?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok().and_then(|n| n.parse().ok()).ok_or_else(|| {
            format!("a record's length {:?} is not a number", String::from_utf8_lossy(&rest[..space]))
        })?;
        if len <= space + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(format!("a record of length {len} does not fit the header's {} bytes", rest.len()));
        }
        let record = &rest[space + 1..len - 1];
        let eq = record.iter().position(|b| *b == b'=').ok_or("a record has no `=`")?;
        let key = std::str::from_utf8(&record[..eq]).map_err(|_| "a record's key is not UTF-8".to_owned())?;
        records.push((key, &record[eq + 1..]));
        rest = &rest[len..];
    }
    Ok(records)
}

/// Whether a header block's stored checksum (octal, at 148..156) is the sum of its bytes
/// with that field read as spaces.
pub(crate) fn checksum_matches(block: &[u8]) -> bool {
    let stored = std::str::from_utf8(&block[148..156])
        .ok()
        .map(|s| s.trim_matches(|c: char| c == ' ' || c == '\0'))
        .and_then(|s| u32::from_str_radix(s, 8).ok());
    let sum: u32 =
        block.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u32::from(*b) }).sum();
    stored == Some(sum)
}

fn broken(message: String) -> Problem {
    Problem::Broken(io::Error::new(io::ErrorKind::InvalidData, message))
}
