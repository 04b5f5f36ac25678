//! `layerize unpack IMAGE DIR`: the root filesystem of an image's merged layers, written the
//! way a runtime unpacks it (whiteouts applied, hardlinks kept, nothing written outside DIR).

use std::path::PathBuf;

use anyhow::{Context, Result};
use layerize_store::unpack::{self, UnpackOptions};

use crate::image_arg::ImageArg;
use crate::layer_feed::feed_layers;
use crate::progress::Progress;
use crate::remote::RegistryFlags;
use crate::source;
use crate::store::StoreFlag;

/// Example: `layerize unpack alpine:3.20 ./rootfs`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image: a name in the store, a registry reference, oci:DIR[:NAME],
    /// docker-archive:FILE[:NAME] or oci-archive:FILE[:NAME].
    image: String,
    /// Where to write the root filesystem; must be empty or absent.
    dir: PathBuf,
    /// The platform to take from an index (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    #[command(flatten)]
    registry: RegistryFlags,
    /// No progress on stderr.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: Args, store: StoreFlag) -> Result<()> {
    let arg = ImageArg::parse(&args.image, &store)?;
    let platforms = source::platforms(args.platform.as_deref(), false)?;
    let access = args.registry.access(arg.registries())?;
    let progress = Progress::lines(args.quiet);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let dir = args.dir.clone();
    let summary = runtime.block_on(async {
        let client = source::client_for(&arg, &access)?;
        let (source, selector) = source::open(&arg, &store, client.as_ref(), &platforms)?;
        let plan = source::plan(&source, &selector, &platforms).await?;
        let options = UnpackOptions::for_current_user();
        feed_layers(&source, &plan.layers, move |layers| {
            let mut warn = |message: String| progress.step(format!("warning: {message}"));
            Ok(unpack::unpack(&dir, layers, &options, &mut warn)?)
        })
        .await
        .with_context(|| format!("unpacking {} into {}", args.image, args.dir.display()))
    })?;
    progress.step(format!(
        "{} layers: {} files ({} bytes), {} directories, {} symlinks, {} hardlinks, {} whiteouts applied, {} skipped",
        summary.layers,
        summary.files,
        summary.bytes,
        summary.dirs,
        summary.symlinks,
        summary.hardlinks,
        summary.whiteouts,
        summary.skipped
    ));
    println!("{}", args.dir.display());
    Ok(())
}
