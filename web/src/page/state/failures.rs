//! The last failed action, shown in the banner at the top and in the section whose action
//! failed.

use leptos::prelude::*;

use crate::page::failure::{Failure, Section};

#[derive(Clone, Copy, Debug)]
pub struct Failures(RwSignal<Option<Failure>>);

impl Failures {
    pub fn new() -> Failures {
        Failures(RwSignal::new(None))
    }

    /// Shows a failure of `section`'s action, there and in the banner.
    pub fn fail(&self, section: Section, message: impl Into<String>) {
        self.0.set(Some(Failure { section, message: message.into() }));
    }

    pub fn clear(&self) {
        self.0.set(None);
    }

    /// The failure shown (tracked).
    pub fn shown(&self) -> Option<Failure> {
        self.0.get()
    }

    /// The message of the failure shown, if it is `section`'s (tracked).
    pub fn of(&self, section: Section) -> Option<String> {
        self.0.with(|f| f.as_ref().filter(|f| f.section == section).map(|f| f.message.clone()))
    }
}

impl Default for Failures {
    fn default() -> Self {
        Failures::new()
    }
}
