//! `layerize pull REF`: an image (or with `--all-platforms`, a whole index) from a registry into
//! the local store, byte for byte; blobs the store has are not fetched again.

use anyhow::{Context, Result};
use layerize_core::Reference;
use layerize_registry::copy::Repository;

use super::transfer::{run_copy, DEFAULT_JOBS};
use crate::progress::ProgressFlags;
use crate::remote::RegistryFlags;
use crate::source::{self, Source};
use crate::store::StoreFlag;

/// Example: `layerize pull alpine:3.20 --platform linux/arm64`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image to pull: a registry reference (alpine:3.20, 127.0.0.1:5000/app@sha256:…).
    reference: String,
    /// The platform to take from an index (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", conflicts_with = "all_platforms")]
    platform: Option<String>,
    /// Keep the whole index and every image it lists (its digest stays the same).
    #[arg(long)]
    all_platforms: bool,
    /// Blobs fetched at a time.
    #[arg(short = 'j', long, default_value_t = DEFAULT_JOBS)]
    jobs: usize,
    #[command(flatten)]
    registry: RegistryFlags,
    #[command(flatten)]
    progress: ProgressFlags,
}

pub fn run(args: Args, store: StoreFlag) -> Result<()> {
    let reference: Reference = args.reference.parse()?;
    let platforms = source::platforms(args.platform.as_deref(), args.all_platforms)?;
    let access = args.registry.access(vec![reference.registry().to_owned()])?;
    let layout = store.open_or_create()?;
    let progress = args.progress.start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let name = reference.to_string();
    let digest = runtime.block_on(async {
        let client = access.client(&reference)?;
        let source = Source::Registry(Repository { client: &client, name: reference.repository().to_owned() });
        let plan = source::plan(&source, reference.selector(), &platforms).await?;
        let _writing = layout.writing()?;
        run_copy(&source, &layout, &plan, Some(&name), args.jobs, progress)
            .await
            .with_context(|| format!("pulling {reference} into the store {}", layout.root().display()))
    })?;
    if reference.digest().is_some() {
        println!("{name}");
    } else {
        println!("{name}@{digest}");
    }
    Ok(())
}
