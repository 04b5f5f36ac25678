//! The page's sections, in the order a person uses them.

pub mod app;
pub mod base;
pub mod build;
pub mod files;
pub mod inspect;
pub mod layer_files;
pub mod login;
pub mod push;
pub mod save;
pub mod settings;
