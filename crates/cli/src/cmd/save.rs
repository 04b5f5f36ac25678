//! `layerize save`: images on registries → one archive that `docker load` (old and new),
//! `podman load`, skopeo and containerd all read.
//!
//! The archive is Docker 25's layout: an OCI layout whose blobs `manifest.json` also points
//! at. Layers are the registry's compressed blobs, streamed straight into the file; configs
//! and manifests are the registry's bytes, so image IDs and digests survive a `load`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use bytes::Bytes;
use layerize_core::{Platform, Reference};
use layerize_registry::transport::native::Native;
use layerize_registry::Client;

use crate::archive_out::OutputArchive;
use crate::blob_source::Blob;
use crate::progress::Progress;
use crate::remote::{Access, RegistryFlags};
use crate::resolve;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The images to save, e.g. 127.0.0.1:5000/app:1 alpine:3.20.
    #[arg(required = true, value_name = "REF")]
    images: Vec<String>,
    /// The archive to write.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// The platform to take from multi-platform images (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    #[command(flatten)]
    registry: RegistryFlags,
    /// No progress on stderr.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    let progress = Progress { quiet: args.quiet };
    let mut refs = Vec::new();
    for image in &args.images {
        let r: Reference = image.parse()?;
        // `app` means `app:latest`, and the archive names it so.
        refs.push(if r.tag().is_none() && r.digest().is_none() { r.with_tag("latest")? } else { r });
    }
    let platform = resolve::platform_arg(args.platform.as_deref())?;
    let access = args.registry.access(refs.iter().map(|r| r.registry().to_owned()).collect())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let saved = runtime
        .block_on(save(&refs, platform.as_ref(), &access, &args.output, progress))
        .with_context(|| format!("saving to {}", args.output.display()))?;
    for line in saved {
        println!("{line}");
    }
    Ok(())
}

async fn save(
    refs: &[Reference],
    platform: Option<&Platform>,
    access: &Access,
    output: &std::path::Path,
    progress: Progress,
) -> Result<Vec<String>> {
    let mut clients: BTreeMap<String, Client<Native>> = BTreeMap::new();
    for r in refs {
        if !clients.contains_key(r.registry()) {
            clients.insert(r.registry().to_owned(), access.client(r)?);
        }
    }
    let mut out = OutputArchive::create(output)?;
    let mut saved = Vec::new();
    for reference in refs {
        let client = clients.get(reference.registry()).context("no client for the registry")?;
        let repo = reference.repository();
        let manifest = resolve::resolve_image(client, reference, platform, progress)
            .await
            .with_context(|| format!("reading {reference}"))?;
        let config =
            client.config(repo, &manifest).await.with_context(|| format!("reading the config of {reference}"))?;
        out.add_blob(&manifest.config, Blob::Memory(Bytes::copy_from_slice(config.raw()))).await?;
        for layer in &manifest.layers {
            let source = Blob::Remote { client, repository: repo, digest: layer.digest.clone() };
            if out
                .add_blob(layer, source)
                .await
                .with_context(|| format!("saving layer {} of {reference}", layer.digest))?
            {
                progress.step(format!("blob {}: written ({} bytes)", layer.digest, layer.size));
            }
        }
        let names: Vec<Reference> = reference.tag().is_some().then(|| reference.clone()).into_iter().collect();
        out.add_image(&manifest, &config, &names)?;
        saved.push(reference.with_digest(manifest.digest().clone()).to_string());
    }
    out.persist()?;
    Ok(saved)
}
