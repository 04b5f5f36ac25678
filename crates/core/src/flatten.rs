//! The merged filesystem of an image: its layers applied in order the way a runtime unpacks
//! them, as a pure function of each layer's entries (from [`crate::layer::read`]).
//!
//! Rules (OCI image spec, "Representing Changes", as containerd and umoci apply them):
//! - a later layer's entry replaces the earlier one at its path; a directory over a directory
//!   only changes its metadata, anything else over a directory replaces the whole subtree;
//! - `dir/.wh.name` deletes `dir/name` and everything under it;
//! - `dir/.wh..wh..opq` hides everything the lower layers have under `dir`;
//! - whiteouts apply to the layers below only, never to entries of their own layer;
//! - a hardlink is a second name for its target as it is when the link is made: it shows the
//!   target's size and mode, and keeps them if the target is later replaced or deleted;
//! - parent directories a layer leaves out are made (mode 0755, owner 0:0), and one that is
//!   not a directory in the layers below is replaced by one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::layer::read::{from_octal, octal, split, Kind, StoredEntry, WHITEOUT_META_PREFIX};

/// One path of the merged filesystem; it reads back from its JSON (`ls --merged --json`), which
/// is also how the page's worker hands merged listings to the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedEntry {
    /// Absolute: `/bin/busybox`.
    pub path: String,
    /// Never a whiteout kind.
    #[serde(flatten)]
    pub kind: Kind,
    #[serde(serialize_with = "octal", deserialize_with = "from_octal")]
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Bytes of content; a hardlink shows its target's.
    pub size: u64,
    pub mtime: u64,
    /// The layer that put this entry here, counted from 1 as `ls --layer` counts.
    pub layer: usize,
}

/// The filesystem after the layers applied so far. Holds entries (metadata only), never
/// file contents, so it costs memory per path, not per byte.
#[derive(Clone, Debug, Default)]
pub struct Flattener {
    /// Keyed with `\0` between components, so that a directory's subtree is one contiguous
    /// range that sorts right after it (`a`, `a\0b`, `a-b`), which is also listing order.
    tree: BTreeMap<String, MergedEntry>,
    layers: usize,
}

/// The merged view of `layers`, lowest first, in tree order (parents before children).
pub fn flatten<L: AsRef<[StoredEntry]>>(layers: impl IntoIterator<Item = L>) -> Vec<MergedEntry> {
    let mut flattener = Flattener::new();
    for layer in layers {
        flattener.apply(layer.as_ref());
    }
    flattener.into_entries()
}

impl Flattener {
    pub fn new() -> Flattener {
        Flattener::default()
    }

    /// Applies the next layer's entries, in their tar order.
    pub fn apply(&mut self, entries: &[StoredEntry]) {
        self.layers += 1;
        let layer = self.layers;
        for entry in entries {
            match &entry.kind {
                Kind::Whiteout { hides } => {
                    let key = key(hides);
                    self.tree.remove(&key);
                    self.remove_below(&key);
                }
                Kind::Opaque { dir } => self.remove_below(&key(dir)),
                _ => {}
            }
        }
        for entry in entries {
            let skip = matches!(entry.kind, Kind::Whiteout { .. } | Kind::Opaque { .. } | Kind::AufsMeta)
                || entry.path == "/"
                || entry.path.split('/').any(|c| c.starts_with(WHITEOUT_META_PREFIX));
            if !skip {
                self.add(entry, layer);
            }
        }
    }

    /// The merged entries in tree order.
    pub fn into_entries(self) -> Vec<MergedEntry> {
        self.tree.into_values().collect()
    }

    fn add(&mut self, entry: &StoredEntry, layer: usize) {
        self.make_parents(&entry.path, layer);
        let mut merged = MergedEntry {
            path: entry.path.clone(),
            kind: entry.kind.clone(),
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            size: entry.size,
            mtime: entry.mtime,
            layer,
        };
        if let Kind::Hardlink { target } = &entry.kind {
            if let Some(t) = self.tree.get(&key(target)).filter(|t| t.kind != Kind::Dir) {
                (merged.size, merged.mode, merged.uid, merged.gid, merged.mtime) =
                    (t.size, t.mode, t.uid, t.gid, t.mtime);
            }
        }
        let key = key(&entry.path);
        let was_dir = self.tree.get(&key).is_some_and(|e| e.kind == Kind::Dir);
        if was_dir && merged.kind != Kind::Dir {
            self.remove_below(&key);
        }
        self.tree.insert(key, merged);
    }

    fn make_parents(&mut self, path: &str, layer: usize) {
        let (parent, _) = split(path);
        if parent == "/" {
            return;
        }
        let key = key(parent);
        match self.tree.get(&key) {
            Some(e) if e.kind == Kind::Dir => return,
            Some(_) => self.remove_below(&key),
            None => {}
        }
        self.make_parents(parent, layer);
        let dir = MergedEntry {
            path: parent.to_owned(),
            kind: Kind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            layer,
        };
        self.tree.insert(key, dir);
    }

    /// Removes everything under `key` (not `key` itself).
    fn remove_below(&mut self, key: &str) {
        if key.is_empty() {
            self.tree.clear();
            return;
        }
        let (from, to) = (format!("{key}\0"), format!("{key}\u{1}"));
        let doomed: Vec<String> = self.tree.range(from..to).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.tree.remove(&k);
        }
    }
}

/// `/a/b` → `a\0b`; the root is the empty key.
fn key(path: &str) -> String {
    path.trim_start_matches('/').replace('/', "\0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: Kind) -> StoredEntry {
        let size = if kind == Kind::File { path.len() as u64 } else { 0 };
        StoredEntry { path: path.into(), kind, mode: 0o644, uid: 0, gid: 0, size, mtime: 0 }
    }

    fn file(path: &str) -> StoredEntry {
        e(path, Kind::File)
    }

    fn dir(path: &str) -> StoredEntry {
        StoredEntry { mode: 0o755, ..e(path, Kind::Dir) }
    }

    fn wh(path: &str) -> StoredEntry {
        let (d, n) = split(path);
        let stored = if d == "/" { format!("/.wh.{n}") } else { format!("{d}/.wh.{n}") };
        e(&stored, Kind::Whiteout { hides: path.into() })
    }

    fn paths(merged: &[MergedEntry]) -> Vec<&str> {
        merged.iter().map(|m| m.path.as_str()).collect()
    }

    #[test]
    fn later_layers_replace_and_tree_order_holds() {
        let l1 = vec![dir("/a"), file("/a/x"), file("/a-b"), dir("/a/sub"), file("/a/sub/y")];
        let mut x2 = file("/a/x");
        x2.size = 99;
        let l2 = vec![x2, file("/b")];
        let merged = flatten([l1, l2]);
        assert_eq!(paths(&merged), ["/a", "/a/sub", "/a/sub/y", "/a/x", "/a-b", "/b"]);
        let x = merged.iter().find(|m| m.path == "/a/x").unwrap();
        assert_eq!((x.size, x.layer), (99, 2));
    }

    #[test]
    fn whiteouts_delete_paths_and_subtrees_below_only() {
        let l1 = vec![
            dir("/etc"),
            file("/etc/motd"),
            file("/etc/motdx"),
            dir("/var"),
            dir("/var/old"),
            file("/var/old/f"),
            dir("/var/old/d"),
            file("/var/old/d/g"),
        ];
        // The same layer re-adds /etc/motd: a whiteout never hides its own layer's entries.
        let l2 = vec![wh("/etc/motd"), wh("/var/old"), wh("/nothing/here"), file("/var/old2")];
        let l3 = vec![wh("/etc/motdx"), file("/etc/motd")];
        let merged = flatten([l1.clone(), l2.clone()]);
        assert_eq!(paths(&merged), ["/etc", "/etc/motdx", "/var", "/var/old2"]);
        let merged = flatten([l1, l2, l3]);
        assert_eq!(paths(&merged), ["/etc", "/etc/motd", "/var", "/var/old2"]);
    }

    #[test]
    fn opaque_dirs_hide_lower_contents_only() {
        let l1 = vec![
            dir("/opt"),
            dir("/opt/data"),
            file("/opt/data/a"),
            dir("/opt/data/d"),
            file("/opt/data/d/b"),
            file("/opt/keep"),
        ];
        let opq = e("/opt/data/.wh..wh..opq", Kind::Opaque { dir: "/opt/data".into() });
        let l2 = vec![opq, dir("/opt/data"), file("/opt/data/new")];
        assert_eq!(paths(&flatten([l1, l2])), ["/opt", "/opt/data", "/opt/data/new", "/opt/keep"]);
    }

    #[test]
    fn type_changes_replace_subtrees_and_parents_are_made() {
        let l1 = vec![dir("/d"), file("/d/x"), file("/f")];
        let l2 = vec![e("/d", Kind::Symlink { target: "/elsewhere".into() }), file("/f/inner"), file("/deep/er/file")];
        let merged = flatten([l1, l2]);
        assert_eq!(paths(&merged), ["/d", "/deep", "/deep/er", "/deep/er/file", "/f", "/f/inner"]);
        let f = merged.iter().find(|m| m.path == "/f").unwrap();
        assert_eq!((&f.kind, f.mode, f.layer), (&Kind::Dir, 0o755, 2));
    }

    #[test]
    fn hardlinks_show_their_target_as_it_was() {
        let mut tool = file("/bin/tool");
        (tool.size, tool.mode) = (1000, 0o755);
        let link = e("/bin/tool2", Kind::Hardlink { target: "/bin/tool".into() });
        let l1 = vec![dir("/bin"), tool, link];
        let l2 = vec![wh("/bin/tool")];
        let merged = flatten([l1, l2]);
        assert_eq!(paths(&merged), ["/bin", "/bin/tool2"]);
        assert_eq!((merged[1].size, merged[1].mode), (1000, 0o755));
        assert_eq!(merged[1].kind, Kind::Hardlink { target: "/bin/tool".into() });
    }

    #[test]
    fn aufs_metadata_and_the_root_are_not_listed() {
        let l1 = vec![dir("/"), e("/.wh..wh.plnk", Kind::AufsMeta), file("/.wh..wh.plnk/1.2"), file("/x")];
        assert_eq!(paths(&flatten([l1])), ["/x"]);
        let root_opaque = e("/.wh..wh..opq", Kind::Opaque { dir: "/".into() });
        assert_eq!(paths(&flatten([vec![file("/x")], vec![root_opaque, file("/y")]])), ["/y"]);
    }

    #[test]
    fn merged_entries_read_back_from_their_json() {
        let l1 = vec![
            dir("/bin"),
            file("/bin/tool"),
            e("/bin/sh", Kind::Symlink { target: "tool".into() }),
            e("/dev/null", Kind::CharDevice { major: 1, minor: 3 }),
        ];
        let merged = flatten([l1]);
        let json = serde_json::to_string(&merged).unwrap();
        assert!(json.contains(r#""mode":"0755""#), "{json}");
        assert_eq!(serde_json::from_str::<Vec<MergedEntry>>(&json).unwrap(), merged);
    }
}
