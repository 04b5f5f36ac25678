//! The draft of the new layer: the rows (each a file the person dropped or picked, owning its
//! `File`), the prefix they go under, the paths to delete from the base and the config edits.
//! Every change goes through [`DraftState`], which counts it in the draft's revision.

use leptos::prelude::*;
use web_sys::File;

use super::edits::Edits;
use super::versioned::Versioned;

/// One file of the new layer: where it came from (relative path), where it goes, and the file
/// itself, so that removing the row lets go of the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Tells rows apart while they are edited (unique for the page's life).
    pub id: u64,
    pub rel: String,
    pub dest: Option<String>,
    pub size: u64,
    pub exec: bool,
    pub file: File,
}

impl Row {
    /// The destination: the person's edit, else the common prefix joined with the file's path.
    pub fn destination(&self, prefix: &str) -> String {
        self.dest.clone().unwrap_or_else(|| format!("{}/{}", prefix.trim_end_matches('/'), self.rel))
    }
}

/// The draft's parts, each a signal of its own so a view follows only what it shows.
#[derive(Clone, Copy, Debug)]
pub struct DraftState {
    rows: Versioned<Vec<Row>, LocalStorage>,
    prefix: Versioned<String>,
    deletes: Versioned<Vec<String>>,
    edits: Versioned<Edits>,
    next_id: StoredValue<u64>,
    revision: RwSignal<u64>,
}

impl DraftState {
    pub fn new() -> DraftState {
        let revision = RwSignal::new(0);
        DraftState {
            rows: Versioned::new_local(Vec::new(), revision),
            prefix: Versioned::new("/app".to_owned(), revision),
            deletes: Versioned::new(Vec::new(), revision),
            edits: Versioned::new(Edits::default(), revision),
            next_id: StoredValue::new(0),
            revision,
        }
    }

    /// Counts every change of the draft (tracked).
    pub fn revision(&self) -> u64 {
        self.revision.get()
    }

    pub fn rows(&self) -> ReadSignal<Vec<Row>, LocalStorage> {
        self.rows.signal()
    }

    pub fn prefix(&self) -> ReadSignal<String> {
        self.prefix.signal()
    }

    pub fn deletes(&self) -> ReadSignal<Vec<String>> {
        self.deletes.signal()
    }

    pub fn edits(&self) -> ReadSignal<Edits> {
        self.edits.signal()
    }

    /// Adds a row for each `(relative path, file)`.
    pub fn add_files(&self, files: Vec<(String, File)>) {
        if files.is_empty() {
            return;
        }
        let first = self.next_id.get_value();
        self.next_id.set_value(first + files.len() as u64);
        let rows = files.into_iter().zip(first..).map(|((rel, file), id)| Row {
            id,
            rel,
            dest: None,
            size: file.size() as u64,
            exec: false,
            file,
        });
        self.rows.update(|r| r.extend(rows));
    }

    /// Changes row `id` (if it is still there).
    pub fn edit_row(&self, id: u64, change: impl FnOnce(&mut Row)) {
        self.rows.update(|rows| {
            if let Some(row) = rows.iter_mut().find(|r| r.id == id) {
                change(row);
            }
        });
    }

    /// Removes row `id`, and with it its file.
    pub fn remove_row(&self, id: u64) {
        self.rows.update(|rows| rows.retain(|r| r.id != id));
    }

    pub fn set_prefix(&self, prefix: String) {
        self.prefix.set(prefix);
    }

    pub fn add_delete(&self, path: String) {
        self.deletes.update(|d| d.push(path));
    }

    /// Keeps the path at `index` of the deletions after all.
    pub fn remove_delete(&self, index: usize) {
        self.deletes.update(|d| {
            if index < d.len() {
                d.remove(index);
            }
        });
    }

    pub fn edit(&self, change: impl FnOnce(&mut Edits)) {
        self.edits.update(change);
    }
}

impl Default for DraftState {
    fn default() -> Self {
        DraftState::new()
    }
}
