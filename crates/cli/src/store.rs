//! The local store: where it is (`--store`, `$LAYERIZE_STORE`, else
//! `${XDG_DATA_HOME:-~/.local/share}/layerize/store`) and how names in it are spelled.
//!
//! The store is an OCI image layout ([`layerize_store::layout`]); images are named by their
//! full reference (`docker.io/library/alpine:3.20`), so `skopeo copy oci:STORE:NAME` finds
//! them, and a short name typed on the command line (`alpine:3.20`) means the same image.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use layerize_core::Reference;
use layerize_store::layout::Layout;

/// `--store`, shared by every command that reads or writes the store.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct StoreFlag {
    /// The local store: an OCI image layout (default $LAYERIZE_STORE, else
    /// ${XDG_DATA_HOME:-~/.local/share}/layerize/store).
    #[arg(long, global = true, value_name = "DIR", env = "LAYERIZE_STORE")]
    pub store: Option<PathBuf>,
}

impl StoreFlag {
    /// The store's directory.
    pub fn dir(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.store {
            return Ok(dir.clone());
        }
        let data = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            Some(data) => PathBuf::from(data),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(home) => PathBuf::from(home).join(".local/share"),
                None => bail!("no store: set --store, $LAYERIZE_STORE, $XDG_DATA_HOME or $HOME"),
            },
        };
        Ok(data.join("layerize/store"))
    }

    /// The store, made if it does not exist yet.
    pub fn open_or_create(&self) -> Result<Layout> {
        let dir = self.dir()?;
        Layout::open_or_create(&dir).with_context(|| format!("opening the store {}", dir.display()))
    }

    /// The store if there is one (commands that only read it need not create it).
    pub fn open_existing(&self) -> Result<Option<Layout>> {
        let dir = self.dir()?;
        if !dir.exists() {
            return Ok(None);
        }
        Ok(Some(Layout::open(&dir).with_context(|| format!("opening the store {}", dir.display()))?))
    }
}

/// The name the store keeps an image under: the full reference (`alpine` →
/// `docker.io/library/alpine:latest`). A name that is not a reference is kept as typed.
pub fn store_name(input: &str) -> String {
    match input.parse::<Reference>() {
        Ok(reference) => reference.to_string(),
        Err(_) => input.to_owned(),
    }
}

/// The stored name `input` means, if the store has it: as typed, or as its full reference.
pub fn find_name(layout: &Layout, input: &str) -> Result<Option<String>> {
    let names = layout.names()?;
    let full = store_name(input);
    Ok([input.to_owned(), full].into_iter().find(|wanted| names.iter().any(|n| &n.name == wanted)))
}
