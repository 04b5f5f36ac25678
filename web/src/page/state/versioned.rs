//! A piece of the page's state whose every change counts in its owner's revision: the only
//! way to change it is through [`Versioned::update`], so whatever was made from an earlier
//! revision (a build) can tell that it is stale without anyone remembering to say so.

use leptos::prelude::*;

/// A signal that can be read freely but changed only here, each change adding one to the
/// revision it shares with the rest of its owner's state.
#[derive(Debug)]
pub struct Versioned<T: 'static, S = SyncStorage> {
    value: RwSignal<T, S>,
    revision: RwSignal<u64>,
}

// Derived, these would ask `T: Copy`; the handles are `Copy` whatever they hold.
impl<T: 'static, S> Clone for Versioned<T, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: 'static, S> Copy for Versioned<T, S> {}

impl<T: Send + Sync + 'static> Versioned<T> {
    pub fn new(value: T, revision: RwSignal<u64>) -> Self {
        Versioned { value: RwSignal::new(value), revision }
    }
}

impl<T: 'static> Versioned<T, LocalStorage> {
    /// For values that stay on the page's thread (browser `File`s and `Blob`s).
    pub fn new_local(value: T, revision: RwSignal<u64>) -> Self {
        Versioned { value: RwSignal::new_local(value), revision }
    }
}

impl<T: 'static, S> Versioned<T, S>
where
    S: Storage<ArcRwSignal<T>> + Storage<ArcReadSignal<T>>,
{
    /// The value, to read (tracked or not) but not to write.
    pub fn signal(&self) -> ReadSignal<T, S> {
        self.value.read_only()
    }

    /// Changes the value and counts the change.
    pub fn update(&self, change: impl FnOnce(&mut T)) {
        self.value.update(change);
        self.revision.update(|r| *r += 1);
    }

    pub fn set(&self, value: T) {
        self.update(|v| *v = value);
    }
}
