//! A layer blob decoded as its bytes arrive, sans-IO in the quinn-proto style: the caller
//! [`feed`](LayerDecoder::feed)s chunks as they come off the network (or a file), calls
//! [`finish`](LayerDecoder::finish) at the end, and takes [`Event`]s out with
//! [`poll`](LayerDecoder::poll) until it returns `None` (more input wanted). Gzip, zstd and
//! plain tar are told apart by their first bytes (the media type is not trusted: registries
//! hold mislabelled layers).
//!
//! One decoder serves every reader: the CLI's `ls` straight off an async byte stream, the
//! page's worker straight off `fetch`'s `ReadableStream`, and the blocking
//! [`LayerReader`](super::read::LayerReader) (a loop: read a chunk, feed, poll). Memory stays
//! at the chunk being fed plus one output buffer: input is decompressed only as events are
//! taken, so a caller that polls until `None` before feeding again holds no backlog.

use std::ops::Range;

use super::gunzip::GzipInflate;
pub use super::untar::MemberHeader;
use super::untar::{checksum_matches, Found, Problem, TarParser};
use super::unzstd::ZstdInflate;
use crate::error::Error;
use crate::media_type::Compression;

/// Bytes decompressed at a time: few calls, little memory.
const OUT: usize = 256 << 10;
const BLOCK: usize = 512;

/// What the decoder found, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A member's header; its content (if any) follows as [`Event::Data`].
    Member(Box<MemberHeader>),
    /// The next bytes of the last member's content.
    Data(&'a [u8]),
    /// The end of the tar archive: nothing more will come, whatever is fed.
    End,
}

/// How the compressed bytes become tar bytes.
#[derive(Debug)]
enum Inflate {
    /// Not known until the first 512 bytes (or the end) are there.
    Sniffing,
    Plain,
    Gzip(Box<GzipInflate>),
    Zstd(Box<ZstdInflate>),
}

/// What [`LayerDecoder::ready`] found, before it is lent out as an [`Event`].
#[derive(Debug)]
enum Ready {
    Member(Box<MemberHeader>),
    Data(Range<usize>),
    End,
}

/// A layer blob being decoded; see the module documentation.
#[derive(Debug)]
pub struct LayerDecoder {
    what: String,
    check: bool,
    inflate: Inflate,
    compression: Compression,
    /// Compressed bytes fed and not yet inflated (from `input_at`).
    input: Vec<u8>,
    input_at: usize,
    /// Tar bytes (from `tar_at`); the plain tar's bytes are fed straight in here.
    tar: Vec<u8>,
    tar_at: usize,
    parser: TarParser,
    ready: Option<Ready>,
    members: u64,
    finished: bool,
    /// The end of the archive was reported, or an error: nothing more comes out.
    done: bool,
}

impl LayerDecoder {
    /// A decoder for the blob of the layer `what` names in errors (usually its digest). With
    /// `check_crc`, gzip's CRC-32 and zstd's checksums are verified; a caller that holds the
    /// whole blob to its sha256 digest may leave them out (see [`GzipInflate`]).
    pub fn new(what: &str, check_crc: bool) -> LayerDecoder {
        LayerDecoder {
            what: what.to_owned(),
            check: check_crc,
            inflate: Inflate::Sniffing,
            compression: Compression::None,
            input: Vec::new(),
            input_at: 0,
            tar: Vec::new(),
            tar_at: 0,
            parser: TarParser::new(),
            ready: None,
            members: 0,
            finished: false,
            done: false,
        }
    }

    /// Takes the next chunk of the blob. Poll until `None` before feeding more, or the
    /// chunks pile up inside.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.done || chunk.is_empty() {
            return;
        }
        let (buf, at) = match self.inflate {
            Inflate::Plain => (&mut self.tar, &mut self.tar_at),
            _ => (&mut self.input, &mut self.input_at),
        };
        if *at > 0 && *at * 2 >= buf.len() {
            buf.drain(..*at);
            *at = 0;
        }
        buf.extend_from_slice(chunk);
    }

    /// Says the blob has ended: what follows from [`LayerDecoder::poll`] is the rest of the
    /// events, then [`Event::End`] or an error if the blob stopped where it may not.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// How the blob is compressed (known once its first bytes are in).
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The layer's name in errors.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Bytes of the last member's content not yet handed out as [`Event::Data`].
    pub fn content_left(&self) -> u64 {
        match &self.ready {
            Some(Ready::Data(range)) => self.parser.content_left() + range.len() as u64,
            _ => self.parser.content_left(),
        }
    }

    /// Members reported so far.
    pub fn members(&self) -> u64 {
        self.members
    }

    /// The next event, or `None` when more input is wanted (never after
    /// [`LayerDecoder::finish`]). After [`Event::End`] or an error, every call returns `None`.
    pub fn poll(&mut self) -> Result<Option<Event<'_>>, Error> {
        if !self.ready()? {
            return Ok(None);
        }
        Ok(match self.ready.take() {
            Some(Ready::Member(member)) => Some(Event::Member(member)),
            Some(Ready::Data(range)) => Some(Event::Data(&self.tar[range])),
            Some(Ready::End) => Some(Event::End),
            None => None,
        })
    }

    /// Works until an event is ready (true) or more input is wanted (false), without lending
    /// the event out yet: a caller that feeds in a loop asks this, then polls.
    pub fn ready(&mut self) -> Result<bool, Error> {
        if self.ready.is_some() {
            return Ok(true);
        }
        if self.done {
            return Ok(false);
        }
        match self.advance() {
            Ok(Some(ready)) => {
                if let Ready::Member(_) = ready {
                    self.members += 1;
                }
                if let Ready::End = ready {
                    self.done = true;
                    self.release();
                }
                self.ready = Some(ready);
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(e) => {
                self.done = true;
                self.release();
                Err(e)
            }
        }
    }

    /// Frees the buffers once nothing more will be read from them.
    fn release(&mut self) {
        (self.input, self.input_at) = (Vec::new(), 0);
        (self.tar, self.tar_at) = (Vec::new(), 0);
    }

    fn advance(&mut self) -> Result<Option<Ready>, Error> {
        if let Inflate::Sniffing = self.inflate {
            if !self.sniff()? {
                return Ok(None);
            }
        }
        loop {
            let (used, found) = self.parser.step(&self.tar[self.tar_at..]).map_err(|p| self.problem(p))?;
            let start = self.tar_at;
            self.tar_at += used;
            match found {
                Some(Found::Member(member)) => return Ok(Some(Ready::Member(member))),
                Some(Found::Data(range)) => return Ok(Some(Ready::Data(start + range.start..start + range.end))),
                Some(Found::End) => return Ok(Some(Ready::End)),
                None if used > 0 => continue,
                None => {}
            }
            if !self.refill()? {
                if !self.finished {
                    return Ok(None);
                }
                self.end_of_input()?;
                return Ok(Some(Ready::End));
            }
        }
    }

    /// Decides the compression once the first block (or the whole blob) is in.
    fn sniff(&mut self) -> Result<bool, Error> {
        let head = &self.input[self.input_at..];
        if head.len() < BLOCK && !self.finished {
            return Ok(false);
        }
        let format = |problem: String| Error::LayerFormat { what: self.what.clone(), problem };
        self.compression = Compression::sniff(head);
        self.inflate = match self.compression {
            _ if head.is_empty() => return Err(format("the blob is empty".into())),
            Compression::Gzip => Inflate::Gzip(Box::new(GzipInflate::new(self.check))),
            Compression::Zstd => Inflate::Zstd(Box::new(ZstdInflate::new(self.check))),
            Compression::None if is_tar_header(head) => {
                self.tar = std::mem::take(&mut self.input);
                self.tar_at = std::mem::take(&mut self.input_at);
                Inflate::Plain
            }
            Compression::None => {
                let start = String::from_utf8_lossy(&head[..head.len().min(16)]).into_owned();
                return Err(format(format!(
                    "it is neither gzip-compressed nor a tar archive (it starts with {start:?})"
                )));
            }
        };
        Ok(true)
    }

    /// Decompresses more tar bytes after what the parser has left; false when nothing more
    /// comes out of the input there is.
    fn refill(&mut self) -> Result<bool, Error> {
        if let Inflate::Plain = self.inflate {
            return Ok(false);
        }
        // What the parser left (part of a header) moves to the front.
        self.tar.drain(..self.tar_at);
        self.tar_at = 0;
        self.tar.reserve(OUT.saturating_sub(self.tar.len()));
        let before = self.tar.len();
        let input = &self.input[self.input_at..];
        let used = match &mut self.inflate {
            Inflate::Gzip(gzip) => gzip.inflate(input, &mut self.tar),
            Inflate::Zstd(zstd) => zstd.inflate(input, &mut self.tar),
            Inflate::Sniffing | Inflate::Plain => Ok(0),
        }
        .map_err(|e| self.problem(Problem::Broken(e)))?;
        self.input_at += used;
        Ok(used > 0 || self.tar.len() > before)
    }

    /// The input has ended with the archive not yet closed by its end blocks: fine where a
    /// tar may stop, if the compressed stream is whole too.
    fn end_of_input(&mut self) -> Result<(), Error> {
        let left = self.input.len() - self.input_at;
        let whole = match &self.inflate {
            Inflate::Gzip(gzip) => gzip.finish(left),
            Inflate::Zstd(zstd) => zstd.finish(left),
            Inflate::Sniffing | Inflate::Plain => Ok(()),
        };
        whole.map_err(|e| self.problem(Problem::Broken(e)))?;
        self.parser.finish(self.tar.len() - self.tar_at).map_err(|p| self.problem(p))
    }

    /// A problem as the error a user reads: a failure before the first member means the
    /// content is not a tar at all; later, the stream broke or was cut short.
    fn problem(&self, problem: Problem) -> Error {
        let what = self.what.clone();
        match problem {
            Problem::Format(problem) => Error::LayerFormat { what, problem },
            Problem::Broken(source) if self.members > 0 => Error::LayerRead { what, entries: self.members, source },
            Problem::Broken(source) => Error::LayerFormat {
                what,
                problem: match self.compression {
                    Compression::Gzip => {
                        format!("it starts like gzip, but is not a gzip-compressed tar archive ({source})")
                    }
                    Compression::Zstd => {
                        format!("it starts like zstd, but is not a zstd-compressed tar archive ({source})")
                    }
                    _ => format!("it is not a valid tar archive ({source})"),
                },
            },
        }
    }
}

/// Whether a 512-byte block is a tar header: all zeros (an empty archive) or a valid checksum.
fn is_tar_header(head: &[u8]) -> bool {
    let Some(block) = head.get(..BLOCK) else { return false };
    block.iter().all(|b| *b == 0) || checksum_matches(block)
}

/// Everything a decoder says about a blob fed in chunks of `chunk` bytes: entries, each
/// member's content, and the error that ended it, for tests that compare chunkings.
#[cfg(test)]
pub(crate) fn decode_all(
    blob: &[u8],
    chunk: usize,
    check: bool,
) -> (Vec<(super::read::StoredEntry, Vec<u8>)>, Option<String>) {
    let mut decoder = LayerDecoder::new("sha256:layer", check);
    let mut members: Vec<(super::read::StoredEntry, Vec<u8>)> = Vec::new();
    let mut chunks = blob.chunks(chunk.max(1));
    loop {
        match decoder.poll() {
            Ok(Some(Event::Member(m))) => members.push((m.entry, Vec::new())),
            Ok(Some(Event::Data(data))) => members.last_mut().expect("data after a member").1.extend_from_slice(data),
            Ok(Some(Event::End)) => return (members, None),
            Ok(None) => match chunks.next() {
                Some(c) => decoder.feed(c),
                None => decoder.finish(),
            },
            Err(e) => return (members, Some(e.to_string())),
        }
    }
}
