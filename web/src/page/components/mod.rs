//! The page's sections, in the order a person uses them.

pub mod app;
pub mod base;
pub mod base_archive;
pub mod build;
pub mod file_download;
pub mod file_list;
pub mod files;
pub mod inspect;
pub mod layer_files;
pub mod login;
pub mod merged_files;
pub mod push;
pub mod save;
pub mod settings;
pub mod shadow;
