//! `layerize tag NAME NEWNAME`: a second name for an image in the local store.

use anyhow::{bail, Result};

use crate::store::{find_name, store_name, StoreFlag};

/// Example: `layerize tag alpine:3.20 127.0.0.1:5000/alpine:3.20`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// An image in the store.
    name: String,
    /// The new name (a reference; kept in full, `app:dev` → `docker.io/library/app:dev`).
    new_name: String,
}

pub fn run(args: Args, store: StoreFlag) -> Result<()> {
    let Some(layout) = store.open_existing()? else { bail!("no image {:?}: the store does not exist yet", args.name) };
    let Some(name) = find_name(&layout, &args.name)? else {
        bail!("no image {:?} in the store {}", args.name, layout.root().display());
    };
    let Some(descriptor) = layout.find(&name)? else { bail!("no image {name:?} in the store") };
    let new_name = store_name(&args.new_name);
    layout.tag(&new_name, &descriptor)?;
    println!("{new_name}@{}", descriptor.digest);
    Ok(())
}
