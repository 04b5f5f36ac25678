//! `layerize export IMAGE [-o FILE]`: an image's merged root filesystem as one flat tar, by the
//! same rules as `unpack` (what `docker export` of a fresh container gives, and what
//! `docker import` takes).

use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result};
use layerize_store::export;
use layerize_store::unpack::UnpackOptions;

use crate::image_arg::ImageArg;
use crate::layer_feed::feed_layers;
use crate::progress::Progress;
use crate::remote::RegistryFlags;
use crate::source;
use crate::store::StoreFlag;

/// Example: `layerize export alpine:3.20 -o rootfs.tar` (or `| tar -t`)
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image: a name in the store, a registry reference, oci:DIR[:NAME],
    /// docker-archive:FILE[:NAME] or oci-archive:FILE[:NAME].
    image: String,
    /// The tar to write (default: standard output).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
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
    // The tree is built in a private temp directory beside the output (or in $TMPDIR).
    let scratch_dir = match args.output.as_deref().and_then(|p| p.parent()) {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        Some(_) => PathBuf::from("."),
        None => std::env::temp_dir(),
    };
    let temp = match &args.output {
        Some(path) => {
            Some(crate::scratch::create_in(&scratch_dir).with_context(|| format!("cannot write {}", path.display()))?)
        }
        None => None,
    };
    let out: Box<dyn Write + Send> = match &temp {
        Some(temp) => Box::new(BufWriter::with_capacity(1 << 20, temp.as_file().try_clone()?)),
        None => Box::new(BufWriter::with_capacity(1 << 20, std::io::stdout())),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = source::client_for(&arg, &access)?;
        let (source, selector) = source::open(&arg, &store, client.as_ref(), &platforms)?;
        let plan = source::plan(&source, &selector, &platforms).await?;
        let options = UnpackOptions::for_current_user();
        let scratch_dir = scratch_dir.clone();
        feed_layers(&source, &plan.layers, move |layers| {
            let mut warn = |message: String| progress.step(format!("warning: {message}"));
            let mut out = export::export(&scratch_dir, layers, out, &options, &mut warn)?;
            out.flush().context("writing the tar")?;
            Ok(())
        })
        .await
        .with_context(|| format!("exporting {}", args.image))
    })?;
    if let (Some(temp), Some(path)) = (temp, &args.output) {
        temp.as_file().sync_all().with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644))?;
        temp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
        progress.step(format!("wrote {}", path.display()));
    }
    Ok(())
}
