//! The page's state, as a few contexts with one owner each, which the sections take from
//! context with `expect_context`:
//!
//! - [`BaseState`]: the base image, loaded by loads keyed on what they load, so that an older
//!   answer never replaces a newer one;
//! - [`DraftState`]: the new layer's rows (each owning its file), the deletions and the config
//!   edits;
//! - [`BuildState`]: the last build, shown only while the base and the draft are at the
//!   revisions it read, so that any change makes it stale without anyone saying so;
//! - the registry logins (`RwSignal<Logins>`, in page memory only) and the last [`Failures`].
//!
//! The base and the draft change only through their own methods (see `versioned`), each change
//! counted in their revision.

pub mod base;
pub mod build;
pub mod draft;
pub mod edits;
pub mod failures;
mod latest;
mod versioned;

use leptos::prelude::*;

pub use base::BaseState;
pub use build::BuildState;
pub use draft::DraftState;
pub use failures::Failures;

use crate::page::api::Logins;

/// Puts the page's state in context for every section below.
pub fn provide() {
    let base = BaseState::new();
    let draft = DraftState::new();
    provide_context(base);
    provide_context(draft);
    provide_context(BuildState::new(base, draft));
    provide_context(RwSignal::new(Logins::default()));
    provide_context(Failures::new());
}
