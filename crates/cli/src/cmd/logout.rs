//! `layerize logout REGISTRY`: forgets the credentials `login` (or `docker login`) saved for a
//! registry, from its credential helper and from the Docker config.

use anyhow::Result;

use crate::credentials;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The registry: its host (ghcr.io, 127.0.0.1:5000), or docker.io for Docker Hub.
    registry: String,
}

pub fn run(args: Args) -> Result<()> {
    let registry = credentials::registry_name(&args.registry)?;
    credentials::erase(&registry)?;
    println!("Removing login credentials for {registry}");
    Ok(())
}
