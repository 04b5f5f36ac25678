//! `cargo xtask serve`: will build the web page and serve it; until the page exists it only
//! says so, and installs nothing.

use anyhow::Result;

pub fn run() -> Result<()> {
    println!("the page comes with the page issue; `layerize` CLI: cargo run -p layerize -- --help");
    Ok(())
}
