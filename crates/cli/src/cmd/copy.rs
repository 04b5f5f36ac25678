//! `layerize copy SRC DST`: an image (or a whole index) from any source to any sink: registry
//! to registry streams blobs straight through (mounted within one registry, skipped when the
//! target has them), and manifest and index bytes are never changed, so every digest holds.

use anyhow::{bail, Context, Result};
use layerize_registry::copy::Repository;
use layerize_store::layout::Layout;
use layerize_store::uploads::Uploads;

use super::transfer::{run_copy, DEFAULT_JOBS};
use crate::image_arg::ImageArg;
use crate::progress::ProgressFlags;
use crate::remote::RegistryFlags;
use crate::sink::Sink;
use crate::source;
use crate::store::StoreFlag;

/// Examples:
///   layerize copy alpine:3.20 127.0.0.1:5000/alpine:3.20 --all-platforms
///   layerize copy 127.0.0.1:5000/app:1 oci:./layout:app:1
///   layerize copy docker-archive:app.tar app:dev          (into the local store)
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to copy: a registry reference, oci:DIR[:NAME], oci-archive:FILE[:NAME],
    /// docker-archive:FILE[:NAME], or a name in the local store.
    source: String,
    /// Where to: a reference naming its registry (127.0.0.1:5000/app:1), oci:DIR[:NAME],
    /// docker-archive:FILE[:NAME], oci-archive:FILE[:NAME], or a name without a registry host
    /// (app:dev), which means the local store.
    destination: String,
    /// The platform to take from an index (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", conflicts_with = "all_platforms")]
    platform: Option<String>,
    /// Copy the whole index and every image it lists (its digest stays the same).
    #[arg(long)]
    all_platforms: bool,
    /// Blobs moved at a time.
    #[arg(short = 'j', long, default_value_t = DEFAULT_JOBS)]
    jobs: usize,
    /// Replace an archive that exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    registry: RegistryFlags,
    #[command(flatten)]
    progress: ProgressFlags,
}

pub fn run(args: Args, store: StoreFlag) -> Result<()> {
    let from = ImageArg::parse(&args.source, &store)?;
    let to = ImageArg::parse_destination(&args.destination)?;
    let platforms = source::platforms(args.platform.as_deref(), args.all_platforms)?;
    let registries = [&from, &to]
        .iter()
        .filter_map(|a| match a {
            ImageArg::Registry(r) => Some(r.registry().to_owned()),
            _ => None,
        })
        .collect();
    let access = args.registry.access(registries)?;
    let progress = args.progress.start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (printed, digest) = runtime.block_on(async {
        let source_client = source::client_for(&from, &access)?;
        // Uploads this copy leaves unfinished are remembered in the store, if there is one.
        let journal = store.open_existing()?.map(|layout| Uploads::new(&layout));
        let dest_client = source::client_for(&to, &access)?.map(|c| match journal {
            Some(journal) => c.with_journal(Box::new(journal)),
            None => c,
        });
        let (source, selector) = source::open(&from, &store, source_client.as_ref(), &platforms)?;
        let plan = source::plan(&source, &selector, &platforms).await?;
        let (sink, tag, printed) = match &to {
            ImageArg::Registry(reference) => {
                let Some(client) = dest_client.as_ref() else { bail!("no client for {reference}") };
                let sink = Sink::Registry(Repository { client, name: reference.repository().to_owned() });
                let tag = reference.digest().is_none().then(|| reference.selector().to_owned());
                let shown = format!("{}/{}", reference.registry(), reference.repository());
                let printed = match reference.tag() {
                    Some(tag) => format!("{shown}:{tag}"),
                    None => shown,
                };
                (sink, tag, printed)
            }
            ImageArg::Stored(name) => (Sink::Layout(store.open_or_create()?), Some(name.clone()), name.clone()),
            ImageArg::Oci { dir, name } => {
                let printed =
                    format!("oci:{}{}", dir.display(), name.as_deref().map(|n| format!(":{n}")).unwrap_or_default());
                (Sink::Layout(Layout::open_or_create(dir)?), name.clone(), printed)
            }
            ImageArg::Archive { path, name } => {
                if !plan.children.is_empty() {
                    bail!(
                        "{}: an archive holds single images, not indexes; choose one with --platform",
                        path.display()
                    );
                }
                let name = name.clone().or_else(|| match &from {
                    ImageArg::Registry(r) if r.tag().is_some() => Some(r.to_string()),
                    ImageArg::Stored(n) => Some(n.clone()),
                    _ => None,
                });
                (Sink::archive(path, args.force)?, name, format!("{}", path.display()))
            }
        };
        let _writing = match &sink {
            Sink::Layout(layout) => Some(layout.writing()?),
            _ => None,
        };
        let digest = run_copy(&source, &sink, &plan, tag.as_deref(), args.jobs, progress)
            .await
            .with_context(|| format!("copying {} to {}", args.source, args.destination))?;
        sink.finish().await?;
        Ok::<_, anyhow::Error>((printed, digest))
    })?;
    println!("{printed}@{digest}");
    Ok(())
}
