//! The page side: the Leptos app and what it does in the page itself.

pub mod api;
pub mod archive_base;
pub mod components;
pub mod download;
pub mod failure;
pub mod layer_build;
pub mod location;
pub mod save;
pub mod state;
