//! What a planned layer does to its base's filesystem, before it is built: which of its paths
//! replace something the base has, which of its deletions remove something (and which remove
//! nothing, likely a typo), and the bytes it adds.
//!
//! A pure function of the base's merged listing ([`crate::flatten`]) and the layer's entries
//! ([`crate::layer::Plan::into_entries`]), applying the same rules as the flattener: a
//! directory over a directory only changes metadata, anything else over a path replaces it and
//! everything under it, and a whiteout deletes its path and everything under it.

use std::collections::HashMap;

use serde::Serialize;

use crate::flatten::MergedEntry;
use crate::layer::read::Kind;
use crate::layer::{Entry, EntryKind};

/// A path of the new layer that the base already has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Replacement {
    /// Absolute: `/etc/motd`.
    pub path: String,
    /// What the base has there.
    pub base: Kind,
    /// Bytes of content the base has there (a hardlink shows its target's).
    pub base_size: u64,
    /// The base layer that put it there, from 1.
    pub base_layer: usize,
    /// What the new layer puts there: a file, a directory or a symlink.
    pub new: Kind,
    pub new_size: u64,
    /// Base paths under it that go with it (when a directory is replaced by a non-directory).
    pub removed_below: usize,
}

/// A path the new layer deletes (a whiteout).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deletion {
    /// Absolute: `/etc/motd`.
    pub path: String,
    /// What the base has there and the layer that put it there; `None` when the base has
    /// nothing at that path, so the whiteout deletes nothing.
    pub base: Option<(Kind, usize)>,
    /// Base paths it removes, itself and everything under it.
    pub removed: usize,
    /// Bytes of file content those paths held.
    pub removed_bytes: u64,
}

/// The whole comparison; see [`shadowing`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Shadowing {
    /// In the layer's order; directories over directories are not listed.
    pub replaced: Vec<Replacement>,
    /// In the layer's order.
    pub deletions: Vec<Deletion>,
    /// Paths of the new layer the base does not have.
    pub new_paths: usize,
    /// Bytes of file content the new layer holds: what it adds to the image, uncompressed.
    pub added_bytes: u64,
    /// Bytes of base file content no longer visible (replaced or deleted); they stay in the
    /// base's layers, so the image does not shrink.
    pub hidden_bytes: u64,
}

/// Compares the planned layer `entries` with the base's merged filesystem `base`.
pub fn shadowing<S>(base: &[MergedEntry], entries: &[Entry<S>]) -> Shadowing {
    let by_path: HashMap<&str, &MergedEntry> = base.iter().map(|e| (e.path.as_str(), e)).collect();
    let below = |path: &str| {
        let prefix = format!("{path}/");
        base.iter().filter(move |e| e.path.starts_with(&prefix))
    };
    let file_bytes = |e: &MergedEntry| if matches!(e.kind, Kind::File | Kind::Hardlink { .. }) { e.size } else { 0 };
    let mut report = Shadowing::default();
    for entry in entries {
        let path = entry.path.to_string();
        let found = by_path.get(path.as_str()).copied();
        let (new, new_size) = match &entry.kind {
            EntryKind::Whiteout => {
                let (removed, removed_bytes) = match found {
                    Some(e) => below(&path).fold((1, file_bytes(e)), |(n, bytes), e| (n + 1, bytes + file_bytes(e))),
                    None => (0, 0),
                };
                report.hidden_bytes += removed_bytes;
                report.deletions.push(Deletion {
                    path,
                    base: found.map(|e| (e.kind.clone(), e.layer)),
                    removed,
                    removed_bytes,
                });
                continue;
            }
            EntryKind::File { size, .. } => (Kind::File, *size),
            EntryKind::Dir { .. } => (Kind::Dir, 0),
            EntryKind::Symlink { target } => (Kind::Symlink { target: target.clone() }, 0),
        };
        report.added_bytes += new_size;
        let Some(old) = found else {
            report.new_paths += 1;
            continue;
        };
        if old.kind == Kind::Dir && new == Kind::Dir {
            continue;
        }
        let (mut removed_below, mut hidden) = (0, file_bytes(old));
        if old.kind == Kind::Dir {
            for e in below(&path) {
                removed_below += 1;
                hidden += file_bytes(e);
            }
        }
        report.hidden_bytes += hidden;
        report.replaced.push(Replacement {
            path,
            base: old.kind.clone(),
            base_size: old.size,
            base_layer: old.layer,
            new,
            new_size,
            removed_below,
        });
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flatten::flatten;
    use crate::layer::read::StoredEntry;
    use crate::layer::{LayerPath, Plan, MODE_FILE};

    fn stored(path: &str, kind: Kind, size: u64) -> StoredEntry {
        StoredEntry { path: path.into(), kind, mode: 0o644, uid: 0, gid: 0, size, mtime: 0 }
    }

    fn base() -> Vec<MergedEntry> {
        let l1 = vec![
            stored("/etc", Kind::Dir, 0),
            stored("/etc/motd", Kind::File, 10),
            stored("/opt/app", Kind::Dir, 0),
            stored("/opt/app/a", Kind::File, 100),
            stored("/opt/app/sub/b", Kind::File, 1000),
            stored("/bin", Kind::Symlink { target: "usr/bin".into() }, 0),
        ];
        let l2 = vec![
            stored("/etc/motd", Kind::File, 20),
            stored("/etc/motd2", Kind::Hardlink { target: "/etc/motd".into() }, 0),
        ];
        flatten([l1, l2])
    }

    fn plan(files: &[(&str, u64)], deletes: &[&str]) -> Vec<Entry<()>> {
        let mut plan = Plan::new();
        for (path, size) in files {
            plan.add(LayerPath::new(path).unwrap(), EntryKind::File { mode: MODE_FILE, size: *size, source: () })
                .unwrap();
        }
        for path in deletes {
            plan.add(LayerPath::new(path).unwrap(), EntryKind::Whiteout).unwrap();
        }
        plan.into_entries()
    }

    #[test]
    fn files_over_base_paths_are_replacements() {
        let report = shadowing(&base(), &plan(&[("/etc/motd", 7), ("/etc/new", 3), ("/bin/tool", 5)], &[]));
        let replaced: Vec<(&str, &Kind, u64, usize, &Kind, u64)> = report
            .replaced
            .iter()
            .map(|r| (r.path.as_str(), &r.base, r.base_size, r.base_layer, &r.new, r.new_size))
            .collect();
        // /etc is a directory over a directory: metadata only. /bin was a symlink: the layer's
        // explicit parent directory replaces it.
        assert_eq!(
            replaced,
            [
                ("/bin", &Kind::Symlink { target: "usr/bin".into() }, 0, 1, &Kind::Dir, 0),
                ("/etc/motd", &Kind::File, 20, 2, &Kind::File, 7)
            ]
        );
        assert_eq!((report.new_paths, report.added_bytes, report.hidden_bytes), (2, 15, 20));
        assert!(report.deletions.is_empty());
    }

    #[test]
    fn a_file_over_a_directory_takes_its_subtree() {
        let report = shadowing(&base(), &plan(&[("/opt/app", 1)], &[]));
        assert_eq!(report.replaced.len(), 1);
        let r = &report.replaced[0];
        assert_eq!((r.path.as_str(), &r.base, r.removed_below), ("/opt/app", &Kind::Dir, 3));
        assert_eq!(report.hidden_bytes, 1100);
    }

    #[test]
    fn deletions_say_what_they_remove_and_flag_missing_paths() {
        let report = shadowing(&base(), &plan(&[], &["/opt/app", "/etc/motd2", "/etc/nothing"]));
        let deletion = |path: &str, base: Option<(Kind, usize)>, removed, removed_bytes| Deletion {
            path: path.into(),
            base,
            removed,
            removed_bytes,
        };
        assert_eq!(
            report.deletions,
            [
                // A hardlink shows its target's size: those bytes are no longer visible there.
                deletion("/etc/motd2", Some((Kind::Hardlink { target: "/etc/motd".into() }, 2)), 1, 20),
                deletion("/etc/nothing", None, 0, 0),
                deletion("/opt/app", Some((Kind::Dir, 1)), 4, 1100),
            ]
        );
        assert_eq!((report.added_bytes, report.hidden_bytes), (0, 1120));
        // The parents a whiteout needs are new directories only where the base lacks them.
        assert!(report.replaced.is_empty());
    }
}
