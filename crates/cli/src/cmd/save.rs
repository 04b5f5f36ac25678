//! `layerize save`: images → one archive that `docker load` (old and new), `podman load`,
//! skopeo and containerd all read.
//!
//! The archive is Docker 25's layout: an OCI layout whose blobs `manifest.json` also points
//! at. Each image goes through the one [`copy`](layerize_registry::copy) into an archive sink:
//! layers are the source's compressed blobs, streamed straight into the file; configs and
//! manifests are the source's bytes, so image IDs and digests survive a `load`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use layerize_core::Reference;

use super::transfer::run_copy;
use crate::image_arg::ImageArg;
use crate::progress::ProgressFlags;
use crate::remote::RegistryFlags;
use crate::sink::Sink;
use crate::source;
use crate::store::StoreFlag;

/// Example: `layerize save 127.0.0.1:5000/app:1 alpine:3.20 -o images.tar`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The images to save: registry references (127.0.0.1:5000/app:1, alpine:3.20), names in
    /// the local store, oci:DIR[:NAME].
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
    /// The archive to write.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// The platform to take from multi-platform images (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    #[command(flatten)]
    registry: RegistryFlags,
    #[command(flatten)]
    progress: ProgressFlags,
}

pub fn run(args: Args, store: StoreFlag) -> Result<()> {
    let progress = args.progress.start();
    let mut images = Vec::new();
    for input in &args.images {
        images.push(match ImageArg::parse(input, &store)? {
            // `app` means `app:latest`, and the archive names it so.
            ImageArg::Registry(r) if r.tag().is_none() && r.digest().is_none() => {
                ImageArg::Registry(r.with_tag("latest")?)
            }
            arg => arg,
        });
    }
    let platforms = source::platforms(args.platform.as_deref(), false)?;
    let registries = images
        .iter()
        .filter_map(|a| match a {
            ImageArg::Registry(r) => Some(r.registry().to_owned()),
            _ => None,
        })
        .collect();
    let access = args.registry.access(registries)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let saved = runtime
        .block_on(async {
            let sink = Sink::archive(&args.output, true)?;
            let mut saved = Vec::new();
            for (arg, input) in images.iter().zip(&args.images) {
                let client = source::client_for(arg, &access)?;
                let (source, selector) = source::open(arg, &store, client.as_ref(), &platforms)?;
                let plan = source::plan(&source, &selector, &platforms).await?;
                let name: Option<Reference> = match arg {
                    ImageArg::Registry(r) if r.tag().is_some() => Some(r.clone()),
                    ImageArg::Stored(name) => name.parse().ok(),
                    _ => None,
                };
                let tag = name.as_ref().map(Reference::to_string);
                let digest = run_copy(&source, &sink, &plan, tag.as_deref(), 1, progress)
                    .await
                    .with_context(|| format!("saving {input}"))?;
                saved.push(match (arg, name) {
                    (ImageArg::Registry(r), _) => r.with_digest(digest).to_string(),
                    (_, Some(name)) => name.with_digest(digest).to_string(),
                    (_, None) => format!("{input}@{digest}"),
                });
            }
            sink.finish().await?;
            Ok::<_, anyhow::Error>(saved)
        })
        .with_context(|| format!("saving to {}", args.output.display()))?;
    for line in saved {
        println!("{line}");
    }
    Ok(())
}
