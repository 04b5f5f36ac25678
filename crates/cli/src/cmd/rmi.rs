//! `layerize rmi NAME...`: drops names from the local store; blobs stay until `gc`.

use anyhow::{bail, Result};

use crate::store::{find_name, StoreFlag};

/// Example: `layerize rmi alpine:3.20 && layerize gc`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Images in the store.
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn run(args: Args, store: StoreFlag) -> Result<()> {
    let Some(layout) = store.open_existing()? else {
        bail!("no image {:?}: the store does not exist yet", args.names[0])
    };
    // Every name is checked before any is dropped: a typo drops nothing.
    let mut found = Vec::new();
    for input in &args.names {
        match find_name(&layout, input)? {
            Some(name) => found.push(name),
            None => bail!("no image {input:?} in the store {} (nothing removed)", layout.root().display()),
        }
    }
    for name in found {
        layout.untag(&name)?;
        println!("{name}");
    }
    Ok(())
}
