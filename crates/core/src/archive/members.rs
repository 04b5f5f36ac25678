//! The table of an archive's members: where each file's bytes lie, found in one pass over the
//! tar headers that seeks over the data, so a `manifest.json` at the end of a large tar costs
//! no more than one at the start.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Seek, SeekFrom};

use tar::EntryType;

use super::member::{normalize, normalize_file, resolve_symlink};
use crate::error::Error;

/// Largest JSON document (manifest.json, index.json, a manifest, a config) read into memory.
pub const MAX_DOCUMENT_SIZE: u64 = 32 << 20;

/// Links followed at most when resolving one name (a loop is an error, not a hang).
const MAX_LINKS: usize = 40;

/// What one member is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    File { offset: u64, size: u64 },
    Symlink(String),
    Hardlink(String),
    Dir,
    Other,
}

/// A regular file in the archive: its name after following links, and where its bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMember {
    pub path: String,
    pub offset: u64,
    pub size: u64,
}

/// Every member of one tar, by normalised name. A name written twice keeps the later entry,
/// as extracting the tar would.
#[derive(Clone, Debug, Default)]
pub struct Members {
    entries: BTreeMap<String, Kind>,
}

impl Members {
    /// Reads the tar headers of `reader`, seeking past file data. Fails on a tar that is not
    /// one, is cut short (a header or a member's data past the end), or names a member with
    /// `..` or an absolute path.
    pub fn scan<R: Read + Seek>(mut reader: R) -> Result<Members, Error> {
        let io_err = |source: io::Error| Error::ArchiveRead { member: "(tar headers)".into(), source };
        let len = reader.seek(SeekFrom::End(0)).map_err(io_err)?;
        reader.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let mut archive = tar::Archive::new(reader);
        let mut members = Members::default();
        let mut last: Option<String> = None;
        let mut raw_names: HashMap<String, String> = HashMap::new();
        let entries = archive.entries_with_seek().map_err(io_err)?;
        for entry in entries {
            let entry = entry.map_err(|e| match &last {
                None => Error::InvalidArchive { problem: "is not a tar: its first block is not a tar header".into() },
                Some(last) => Error::InvalidArchive {
                    problem: format!("is not a complete, readable tar after member {last:?}: {}", first_line(&e)),
                },
            })?;
            let raw_path = entry.path_bytes();
            let raw = std::str::from_utf8(&raw_path).map_err(|_| Error::InvalidMemberPath {
                path: String::from_utf8_lossy(&raw_path).into_owned(),
                problem: "is not UTF-8",
            })?;
            let Some(path) = normalize(raw)? else { continue };
            let header = entry.header();
            let kind = match header.entry_type() {
                EntryType::Regular | EntryType::Continuous => {
                    let offset = entry.raw_file_position();
                    let size = entry.size();
                    if offset.saturating_add(size) > len {
                        return Err(Error::TruncatedMember {
                            member: path,
                            needed: size,
                            available: len.saturating_sub(offset),
                        });
                    }
                    Kind::File { offset, size }
                }
                EntryType::Symlink => Kind::Symlink(link_name(&entry, &path)?),
                EntryType::Link => Kind::Hardlink(normalize_file(&link_name(&entry, &path)?)?),
                EntryType::Directory => Kind::Dir,
                _ => Kind::Other,
            };
            // One name for two members (`manifest.json` and `./manifest.json`, or the same name
            // twice) is ambiguous: readers disagree on which counts, so neither is taken.
            let is_dir = matches!(kind, Kind::Dir);
            if let Some(first) = raw_names.get(&path) {
                if !is_dir || !matches!(members.entries.get(&path), Some(Kind::Dir)) {
                    return Err(Error::InvalidArchive {
                        problem: format!("holds two members named {path:?} ({first:?} and {raw:?}); it is ambiguous which one counts"),
                    });
                }
            }
            raw_names.insert(path.clone(), raw.to_owned());
            last = Some(path.clone());
            members.entries.insert(path, kind);
        }
        if members.entries.is_empty() {
            return Err(Error::InvalidArchive { problem: "has no members: it is empty or not a tar".into() });
        }
        Ok(members)
    }

    /// The regular file `name` (as written in `manifest.json` or derived from a digest), after
    /// following symbolic and hard links. `named_by` says who asked for it, for the error.
    pub fn file(&self, name: &str, named_by: &str) -> Result<FileMember, Error> {
        let wanted = normalize_file(name)?;
        let mut current = wanted.clone();
        for _ in 0..MAX_LINKS {
            match self.entries.get(&current) {
                None => {
                    let member = if current == wanted { wanted } else { format!("{wanted} (a link to {current})") };
                    return Err(Error::MissingMember { member, named_by: named_by.to_owned() });
                }
                Some(Kind::File { offset, size }) => {
                    return Ok(FileMember { path: current, offset: *offset, size: *size })
                }
                Some(Kind::Symlink(target)) => current = resolve_symlink(&current, target)?,
                Some(Kind::Hardlink(target)) => current.clone_from(target),
                Some(Kind::Dir | Kind::Other) => {
                    return Err(Error::InvalidMember { member: current, problem: "is not a regular file".into() })
                }
            }
        }
        Err(Error::InvalidMember {
            member: wanted,
            problem: format!("more than {MAX_LINKS} links deep (a link loop?)"),
        })
    }

    /// Whether `name` exists (as anything: file, link, directory).
    pub fn contains(&self, name: &str) -> bool {
        matches!(normalize(name), Ok(Some(n)) if self.entries.contains_key(&n))
    }

    /// Whether `name` leads to a regular file.
    pub fn has_file(&self, name: &str) -> bool {
        self.file(name, "").is_ok()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The tar crate's message without the header bytes it sometimes quotes.
fn first_line(e: &io::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(120).collect()
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>, path: &str) -> Result<String, Error> {
    let bad = |problem: &'static str| Error::InvalidMemberPath { path: path.to_owned(), problem };
    let target = entry.link_name_bytes().ok_or_else(|| bad("is a link without a target"))?;
    std::str::from_utf8(&target).map(str::to_owned).map_err(|_| bad("has a link target that is not UTF-8"))
}

impl FileMember {
    /// The member's bytes, for small documents only (manifests, configs, `manifest.json`).
    pub fn read_all<R: Read + Seek>(&self, reader: &mut R) -> Result<Vec<u8>, Error> {
        if self.size > MAX_DOCUMENT_SIZE {
            return Err(Error::InvalidMember {
                member: self.path.clone(),
                problem: format!("is {} bytes, more than the {MAX_DOCUMENT_SIZE} a JSON document may have", self.size),
            });
        }
        let mut bytes = Vec::with_capacity(self.size as usize);
        self.reader(reader)?.read_to_end(&mut bytes).map_err(|source| self.read_error(source))?;
        if bytes.len() as u64 != self.size {
            return Err(Error::TruncatedMember {
                member: self.path.clone(),
                needed: self.size,
                available: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// A reader over exactly this member's bytes.
    pub fn reader<'r, R: Read + Seek>(&self, reader: &'r mut R) -> Result<io::Take<&'r mut R>, Error> {
        reader.seek(SeekFrom::Start(self.offset)).map_err(|source| self.read_error(source))?;
        Ok(reader.take(self.size))
    }

    /// The first bytes of the member (to recognise compression).
    pub fn head<R: Read + Seek>(&self, reader: &mut R) -> Result<Vec<u8>, Error> {
        let mut head = Vec::with_capacity(8);
        self.reader(reader)?.take(8).read_to_end(&mut head).map_err(|source| self.read_error(source))?;
        Ok(head)
    }

    pub fn read_error(&self, source: io::Error) -> Error {
        Error::ArchiveRead { member: self.path.clone(), source }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    /// A tar of `(name, kind, data, link)` members, names written raw as given (so that `..`
    /// and absolute names can be tested); the archive reader's tests use it too.
    pub(crate) fn tar_of(entries: &[(&str, EntryType, Vec<u8>, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if let Some(link) = link {
                h.set_link_name(link).unwrap();
            }
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, &data[..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn finds_files_through_links_and_dot_prefixes() {
        let tar = tar_of(&[
            ("./", EntryType::Directory, b"".to_vec(), None),
            ("./a/layer.tar", EntryType::Regular, b"layer bytes".to_vec(), None),
            ("./b/layer.tar", EntryType::Symlink, b"".to_vec(), Some("../a/layer.tar")),
            ("c.tar", EntryType::Link, b"".to_vec(), Some("./a/layer.tar")),
            ("manifest.json", EntryType::Regular, b"[]".to_vec(), None),
        ]);
        let members = Members::scan(Cursor::new(&tar)).unwrap();
        let a = members.file("a/layer.tar", "test").unwrap();
        assert_eq!(members.file("b/layer.tar", "test").unwrap(), a);
        assert_eq!(members.file("./c.tar", "test").unwrap(), a);
        assert_eq!(a.read_all(&mut Cursor::new(&tar)).unwrap(), b"layer bytes");
        assert!(members.has_file("manifest.json"));
        match members.file("d/layer.tar", "manifest.json") {
            Err(Error::MissingMember { member, named_by }) => {
                assert_eq!((member.as_str(), named_by.as_str()), ("d/layer.tar", "manifest.json"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_one_name_for_two_members() {
        let twice = tar_of(&[
            ("manifest.json", EntryType::Regular, b"[]".to_vec(), None),
            ("./manifest.json", EntryType::Regular, b"[{}]".to_vec(), None),
        ]);
        match Members::scan(Cursor::new(&twice)) {
            Err(e @ Error::InvalidArchive { .. }) => {
                let e = e.to_string();
                assert!(e.contains("\"manifest.json\"") && e.contains("\"./manifest.json\""), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let dirs = tar_of(&[
            ("a/", EntryType::Directory, b"".to_vec(), None),
            ("./a/", EntryType::Directory, b"".to_vec(), None),
            ("a/f", EntryType::Regular, b"x".to_vec(), None),
        ]);
        assert!(Members::scan(Cursor::new(&dirs)).is_ok(), "a directory listed twice is harmless");
    }

    #[test]
    fn refuses_escaping_names_and_cut_tars() {
        let evil = tar_of(&[("../evil", EntryType::Regular, b"x".to_vec(), None)]);
        assert!(matches!(Members::scan(Cursor::new(&evil)), Err(Error::InvalidMemberPath { .. })));
        let abs = tar_of(&[("/etc/x", EntryType::Regular, b"x".to_vec(), None)]);
        assert!(matches!(Members::scan(Cursor::new(&abs)), Err(Error::InvalidMemberPath { .. })));

        let whole =
            tar_of(&[("a", EntryType::Regular, vec![7u8; 2000], None), ("b", EntryType::Regular, b"x".to_vec(), None)]);
        // Cut inside a's data: the seek over it lands past the end.
        let cut = &whole[..1000];
        match Members::scan(Cursor::new(cut)) {
            Err(Error::TruncatedMember { member, needed, available }) => {
                assert_eq!((member.as_str(), needed, available), ("a", 2000, 488));
            }
            other => panic!("{other:?}"),
        }
        // Cut inside b's header.
        let cut = &whole[..512 + 2048 + 100];
        assert!(matches!(Members::scan(Cursor::new(cut)), Err(Error::InvalidArchive { .. })));
        assert!(matches!(
            Members::scan(Cursor::new(b"{\"not\": \"a tar\"}".repeat(40))),
            Err(Error::InvalidArchive { .. })
        ));
    }
}
