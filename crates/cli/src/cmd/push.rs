//! `layerize push NAME [TARGET]`: an image from the local store to a registry, byte for byte
//! (an index with every image it lists), so its digest is the one it had when pulled.

use anyhow::{bail, Context, Result};
use layerize_core::Reference;
use layerize_registry::copy::{Platforms, Repository};
use layerize_store::uploads::Uploads;

use super::transfer::{run_copy, DEFAULT_JOBS};
use crate::progress::ProgressFlags;
use crate::remote::RegistryFlags;
use crate::source::{self, Source};
use crate::store::{find_name, StoreFlag};

/// Example: `layerize push app:dev 127.0.0.1:5000/app:1`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image in the store.
    name: String,
    /// Where to push it (default: NAME itself, which must then be a registry reference).
    target: Option<String>,
    /// Blobs uploaded at a time.
    #[arg(short = 'j', long, default_value_t = DEFAULT_JOBS)]
    jobs: usize,
    #[command(flatten)]
    registry: RegistryFlags,
    #[command(flatten)]
    progress: ProgressFlags,
}

pub fn run(args: Args, store: StoreFlag) -> Result<()> {
    let Some(layout) = store.open_existing()? else {
        bail!("no image {:?}: the store {} does not exist yet", args.name, store.dir()?.display());
    };
    let Some(name) = find_name(&layout, &args.name)? else {
        bail!("no image {:?} in the store {}", args.name, layout.root().display());
    };
    let target: Reference = args.target.as_deref().unwrap_or(&name).parse().with_context(|| {
        format!("{} is not a registry reference to push to", args.target.as_deref().unwrap_or(&name))
    })?;
    let access = args.registry.access(vec![target.registry().to_owned()])?;
    let progress = args.progress.start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let digest = runtime.block_on(async {
        let source = Source::Layout(layout.clone());
        let plan = source::plan(&source, &name, &Platforms::All).await?;
        // Uploads this push leaves unfinished are remembered in the store for the next run.
        let client = access.client(&target)?.with_journal(Box::new(Uploads::new(&layout)));
        let sink = Repository { client: &client, name: target.repository().to_owned() };
        run_copy(&source, &sink, &plan, Some(target.selector()), args.jobs, progress)
            .await
            .with_context(|| format!("pushing {name} to {target}"))
    })?;
    if target.digest().is_some() {
        println!("{target}");
    } else {
        println!("{target}@{digest}");
    }
    Ok(())
}
