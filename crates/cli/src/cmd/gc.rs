//! `layerize gc`: removes blobs no image in the local store uses; prints the bytes freed.

use anyhow::Result;
use layerize_store::gc;

use crate::store::StoreFlag;

/// Example: `layerize rmi old:1 && layerize gc`
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args, store: StoreFlag) -> Result<()> {
    let Some(layout) = store.open_existing()? else {
        println!("0");
        return Ok(());
    };
    let collected = gc::collect(&layout)?;
    eprintln!("removed {} blobs", collected.blobs);
    println!("{}", collected.bytes);
    Ok(())
}
