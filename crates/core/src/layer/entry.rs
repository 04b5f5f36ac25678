//! What goes into a layer: normalised paths and entries, collected into a sorted plan with
//! explicit parent directories.
//!
//! The CLI (from a directory walk) and the page (from dropped files) both fill a [`Plan`];
//! the plan alone decides order and metadata, so the same files give the same bytes anywhere.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::Error;

/// Permission bits for files without the executable bit, and for files with it (and dirs).
/// Normalising to these two keeps digests independent of the umask of the machine that
/// checked the files out.
pub const MODE_FILE: u32 = 0o644;
pub const MODE_EXEC: u32 = 0o755;

/// A path inside the layer: relative, `/`-separated, no `.`/`..`/empty components.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LayerPath(String);

impl LayerPath {
    /// Normalises `input` (`/usr//bin/./x` → `usr/bin/x`). The root itself is not a path.
    pub fn new(input: &str) -> Result<LayerPath, Error> {
        let bad = |problem: &'static str| Error::InvalidLayerPath { path: input.to_owned(), problem };
        if input.contains('\0') {
            return Err(bad("contains a NUL byte"));
        }
        let mut parts = Vec::new();
        for part in input.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(bad("`..` is not allowed in a layer path")),
                p => parts.push(p),
            }
        }
        if parts.is_empty() {
            return Err(bad("names the root directory, not a file"));
        }
        Ok(LayerPath(parts.join("/")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Joins a relative child path (already split on `/`).
    pub fn join(&self, child: &str) -> Result<LayerPath, Error> {
        LayerPath::new(&format!("{}/{child}", self.0))
    }

    pub fn parent(&self) -> Option<LayerPath> {
        self.0.rsplit_once('/').map(|(p, _)| LayerPath(p.to_owned()))
    }

    pub fn file_name(&self) -> &str {
        self.0.rsplit_once('/').map(|(_, n)| n).unwrap_or(&self.0)
    }

    /// Every proper ancestor, outermost first.
    fn ancestors(&self) -> impl Iterator<Item = &str> {
        self.0.match_indices('/').map(|(i, _)| &self.0[..i])
    }
}

impl fmt::Display for LayerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

impl fmt::Debug for LayerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LayerPath({})", self.0)
    }
}

/// One entry of a layer. `S` is how the bytes of a file are found again (a file path in the
/// CLI, a `File` handle in the page): the plan never holds file contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind<S> {
    File {
        mode: u32,
        size: u64,
        source: S,
    },
    Dir {
        mode: u32,
    },
    Symlink {
        target: String,
    },
    /// Deletes the path from lower layers (written as a `.wh.` whiteout).
    Whiteout,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<S> {
    pub path: LayerPath,
    pub kind: EntryKind<S>,
}

impl<S> Entry<S> {
    /// The name this entry has in the tar (whiteouts become `dir/.wh.name`).
    pub fn tar_name(&self) -> String {
        match (&self.kind, self.path.parent()) {
            (EntryKind::Whiteout, Some(parent)) => format!("{}/.wh.{}", parent.as_str(), self.path.file_name()),
            (EntryKind::Whiteout, None) => format!(".wh.{}", self.path.as_str()),
            (EntryKind::Dir { .. }, _) => format!("{}/", self.path.as_str()),
            _ => self.path.as_str().to_owned(),
        }
    }
}

/// The entries of a layer, keyed by path so that order never depends on how they were added.
#[derive(Clone, Debug)]
pub struct Plan<S> {
    entries: BTreeMap<LayerPath, EntryKind<S>>,
}

impl<S> Default for Plan<S> {
    fn default() -> Self {
        Plan { entries: BTreeMap::new() }
    }
}

impl<S> Plan<S> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry. Adding the same path twice, or a path under a file, is an error that
    /// names both: silently letting one win would hide a mistake in the user's file list.
    pub fn add(&mut self, path: LayerPath, kind: EntryKind<S>) -> Result<(), Error> {
        if let Some(existing) = self.entries.get(&path) {
            let both_dirs = matches!(existing, EntryKind::Dir { .. }) && matches!(kind, EntryKind::Dir { .. });
            if !both_dirs {
                return Err(Error::LayerConflict {
                    path: path.to_string(),
                    problem: match (existing, &kind) {
                        (EntryKind::Whiteout, _) | (_, EntryKind::Whiteout) => "is both added and deleted",
                        _ => "is added twice",
                    },
                });
            }
        }
        for ancestor in path.ancestors() {
            if let Some(kind) = self.entries.get(&LayerPath(ancestor.to_owned())) {
                if !matches!(kind, EntryKind::Dir { .. }) {
                    return Err(Error::LayerConflict {
                        path: path.to_string(),
                        problem: "lies under a path that is not added as a directory",
                    });
                }
            }
        }
        if !matches!(kind, EntryKind::Dir { .. }) {
            let prefix = format!("{}/", path.as_str());
            let first_child = self.entries.range(LayerPath(prefix.clone())..).next();
            if let Some((child, _)) = first_child.filter(|(p, _)| p.as_str().starts_with(&prefix)) {
                return Err(Error::LayerConflict {
                    path: child.to_string(),
                    problem: "lies under a path that is not added as a directory",
                });
            }
        }
        self.entries.insert(path, kind);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets the mode of a file or directory already in the plan, whatever its source gave
    /// (the CLI's `--chmod`, so a command can say exactly what the page built).
    pub fn set_mode(&mut self, path: &LayerPath, mode: u32) -> Result<(), Error> {
        let problem = match self.entries.get_mut(path) {
            Some(EntryKind::File { mode: m, .. } | EntryKind::Dir { mode: m }) => {
                *m = mode;
                return Ok(());
            }
            Some(_) => "is not a file or directory, so it has no mode to set",
            None => "is not in the layer, so its mode cannot be set",
        };
        Err(Error::LayerConflict { path: path.to_string(), problem })
    }

    /// The entries in tar order, with every missing parent directory made explicit
    /// (mode 0755), so a runtime never has to invent one with a surprising mode.
    pub fn into_entries(self) -> Vec<Entry<S>> {
        let mut entries = self.entries;
        let parents: Vec<LayerPath> =
            entries.keys().flat_map(|p| p.ancestors().map(|a| LayerPath(a.to_owned())).collect::<Vec<_>>()).collect();
        for parent in parents {
            entries.entry(parent).or_insert(EntryKind::Dir { mode: MODE_EXEC });
        }
        let mut out: Vec<Entry<S>> = entries.into_iter().map(|(path, kind)| Entry { path, kind }).collect();
        // Tar order is by tar name, so whiteouts (`.wh.x`) sort as they will appear.
        out.sort_by_cached_key(|e| e.tar_name().trim_end_matches('/').to_owned());
        out
    }

    /// The sum of file sizes: the total for progress reports.
    pub fn content_size(&self) -> u64 {
        self.entries
            .values()
            .map(|k| match k {
                EntryKind::File { size, .. } => *size,
                _ => 0,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> LayerPath {
        LayerPath::new(s).unwrap()
    }

    #[test]
    fn paths_normalise() {
        assert_eq!(p("/usr//bin/./x").as_str(), "usr/bin/x");
        assert_eq!(p("a/").as_str(), "a");
        for (bad, want) in [
            ("/", "names the root directory, not a file"),
            ("a/../b", "`..` is not allowed in a layer path"),
            ("a\0b", "contains a NUL byte"),
        ] {
            match LayerPath::new(bad) {
                Err(Error::InvalidLayerPath { problem, .. }) => assert_eq!(problem, want),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn entries_are_sorted_with_explicit_parents() {
        let mut plan = Plan::new();
        plan.add(p("/usr/local/bin/run.sh"), EntryKind::File { mode: MODE_EXEC, size: 3, source: 1 }).unwrap();
        plan.add(p("/etc/motd"), EntryKind::Whiteout).unwrap();
        plan.add(p("/opt/app"), EntryKind::Dir { mode: MODE_EXEC }).unwrap();
        plan.add(p("/opt/app/a"), EntryKind::File { mode: MODE_FILE, size: 1, source: 2 }).unwrap();
        let names: Vec<String> = plan.into_entries().iter().map(Entry::tar_name).collect();
        assert_eq!(
            names,
            [
                "etc/",
                "etc/.wh.motd",
                "opt/",
                "opt/app/",
                "opt/app/a",
                "usr/",
                "usr/local/",
                "usr/local/bin/",
                "usr/local/bin/run.sh"
            ]
        );
    }

    #[test]
    fn conflicts_are_errors() {
        let mut plan: Plan<u8> = Plan::new();
        plan.add(p("a/b"), EntryKind::File { mode: MODE_FILE, size: 0, source: 0 }).unwrap();
        let twice = plan.add(p("a/b"), EntryKind::File { mode: MODE_FILE, size: 0, source: 0 }).unwrap_err();
        assert!(twice.to_string().contains("/a/b is added twice"), "{twice}");
        let deleted = plan.add(p("a/b"), EntryKind::Whiteout).unwrap_err();
        assert!(deleted.to_string().contains("both added and deleted"), "{deleted}");
        let under = plan.add(p("a/b/c"), EntryKind::Dir { mode: MODE_EXEC }).unwrap_err();
        assert!(under.to_string().contains("not added as a directory"), "{under}");
        plan.add(p("d/e"), EntryKind::Dir { mode: MODE_EXEC }).unwrap();
        let over = plan.add(p("d"), EntryKind::Symlink { target: "x".into() }).unwrap_err();
        assert!(over.to_string().contains("/d/e"), "{over}");
    }
}
