//! `layerize load`: an image archive → a registry, under the names the archive carries or
//! under `-t`.
//!
//! Reads `docker save` tars (legacy and Docker 25+), containerd exports, podman and skopeo
//! `docker-archive`/`oci-archive` tars and OCI layouts in a tar, gzipped or not. The archive's
//! own manifest is pushed byte for byte when it has one, with its blobs as they are (so
//! digests survive a round trip). A legacy `manifest.json`-only image has no manifest to keep,
//! so `load` makes a Docker v2 schema 2 one, and its uncompressed layers go up gzipped on the
//! core's fast profile while they stream (the registry taking in bytes is what a load waits
//! on; gzip layers stay as they are, config bytes and diffIDs are unchanged); `--no-compress`
//! pushes them as stored instead. Manifests and configs are checked before anything is sent,
//! each layer while it streams (a gzipped one before it is compressed), and every blob of
//! every image is in place before the first manifest: a bad archive leaves no tag.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use layerize_core::archive::docker::docker_manifest;
use layerize_core::archive::{ArchivedBlob, ArchivedImage, Content, Found};
use layerize_core::descriptor::Descriptor;
use layerize_core::manifest::ImageManifest;
use layerize_core::{Digest, MediaType, Platform, Reference};
use layerize_registry::copy::{self, CopyEvent, Overlay, Plan, Platforms, Repository};
use layerize_registry::transport::native::Native;
use layerize_registry::Client;

use super::transfer::report;
use crate::archive_image::ArchiveSource;
use crate::blob_source::Blob;
use crate::progress::{Progress, ProgressFlags};
use crate::remote::{Access, RegistryFlags};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The archive: a docker save tar, an OCI layout tar (podman, skopeo, containerd), or either gzipped.
    file: PathBuf,
    /// Where to push, for an archive holding one image (default: the names in the archive).
    #[arg(short = 't', long = "tag", value_name = "REF")]
    target: Option<String>,
    /// The platform to take from an index the archive holds only in part (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Push the uncompressed layers of a manifest.json-only archive (legacy docker save,
    /// skopeo docker-archive) as they are stored, instead of gzipping them on the way up.
    #[arg(long)]
    no_compress: bool,
    #[command(flatten)]
    registry: RegistryFlags,
    #[command(flatten)]
    progress: ProgressFlags,
}

pub fn run(args: Args) -> Result<()> {
    let progress = args.progress.start();
    let target: Option<Reference> = args.target.as_deref().map(str::parse).transpose()?;
    let platform: Platform = match &args.platform {
        Some(p) => p.parse()?,
        None => crate::resolve::host_platform(),
    };
    let archive = ArchiveSource::open(&args.file, &platform, args.platform.is_some())?;
    let found = archive.found();
    let shown = args.file.display();
    let pushes = names(found, target, &shown.to_string())?;
    let compress = !args.no_compress;
    for f in found {
        progress.step(format!("{}: {}", f.origin, summary(f, compress)));
    }
    let mut registries: Vec<String> = pushes.iter().map(|(_, r)| r.registry().to_owned()).collect();
    registries.dedup();
    let access = args.registry.access(registries)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let pushed = runtime
        .block_on(push_all(&archive, &pushes, &access, compress, progress))
        .with_context(|| format!("loading {shown}"))?;
    for line in pushed {
        println!("{line}");
    }
    Ok(())
}

/// Which entry goes under which name.
fn names(found: &[Found], target: Option<Reference>, shown: &str) -> Result<Vec<(usize, Reference)>> {
    if let Some(target) = target {
        if found.len() != 1 {
            let list: Vec<String> = found
                .iter()
                .map(|f| {
                    format!("{} {}", f.origin, f.names.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
                })
                .collect();
            bail!(
                "{shown} holds {} images ({}); -t names one image, so leave it out to push each under its own names",
                found.len(),
                list.join("; ")
            );
        }
        return Ok(vec![(0, target)]);
    }
    let mut pushes = Vec::new();
    for (i, f) in found.iter().enumerate() {
        if f.names.is_empty() {
            bail!("{} of {shown} has no name to push it under; give one with -t", f.origin);
        }
        pushes.extend(f.names.iter().map(|n| (i, n.clone())));
    }
    Ok(pushes)
}

/// The manifest digest (when it is known before the push) and what the entry holds.
fn summary(found: &Found, compress: bool) -> String {
    let digest = found.top().1.digest;
    match &found.content {
        Content::Image(image) if image.built => match image.layers.iter().filter(|l| gzips(image, l, compress)).count()
        {
            0 => format!("{digest} ({}, manifest built from manifest.json)", layers(image.layers.len())),
            n => format!(
                "{}, manifest built from manifest.json; {n} uncompressed, gzipped on the way up",
                layers(image.layers.len())
            ),
        },
        Content::Image(image) => format!("{digest} ({}, manifest from the archive)", layers(image.layers.len())),
        Content::Index { manifests, .. } => format!("{digest} (an index of {} manifests)", manifests.len()),
    }
}

/// Whether a layer goes up gzipped: an uncompressed layer of an image whose manifest `load`
/// builds. An archive's own manifest is kept with its blobs as they are, or its digest would
/// change.
fn gzips(image: &ArchivedImage, layer: &ArchivedBlob, compress: bool) -> bool {
    compress && image.built && layer.descriptor.media_type == MediaType::DockerLayer
}

/// The manifest to push in place of [`Found::top`]'s: for a built image with layers that go
/// up gzipped, one over the blobs they became (`gzipped`: plain layer digest → gzip blob).
fn manifest_as_pushed(
    found: &Found,
    gzipped: &BTreeMap<Digest, Descriptor>,
    compress: bool,
) -> Result<Option<ImageManifest>> {
    let Content::Image(image) = &found.content else { return Ok(None) };
    if !image.layers.iter().any(|l| gzips(image, l, compress)) {
        return Ok(None);
    }
    let mut layers = Vec::new();
    for layer in &image.layers {
        let descriptor = if gzips(image, layer, compress) {
            gzipped
                .get(&layer.descriptor.digest)
                .with_context(|| format!("layer {} was not pushed", layer.descriptor.digest))?
        } else {
            &layer.descriptor
        };
        layers.push(descriptor.clone());
    }
    Ok(Some(docker_manifest(&found.origin, &image.config_blob.descriptor, &layers)?))
}

fn layers(n: usize) -> String {
    if n == 1 {
        "1 layer".into()
    } else {
        format!("{n} layers")
    }
}

/// One name to push: where, what (the archive's images, with built manifests and gzipped
/// layers over it) and the plan read from that.
struct Push<'a> {
    dest: usize,
    name: Reference,
    source: Overlay<'a, ArchiveSource, Blob>,
    plan: Plan,
}

async fn push_all(
    archive: &ArchiveSource,
    pushes: &[(usize, Reference)],
    access: &Access,
    compress: bool,
    progress: Progress,
) -> Result<Vec<String>> {
    let found = archive.found();
    let mut clients: BTreeMap<String, Client<Native>> = BTreeMap::new();
    // One destination per repository, in the order the names came.
    let mut destinations: Vec<Reference> = Vec::new();
    for (_, name) in pushes {
        if !clients.contains_key(name.registry()) {
            clients.insert(name.registry().to_owned(), access.client(name)?);
        }
        if !destinations.iter().any(|r| r.name() == name.name()) {
            destinations.push(name.clone());
        }
    }
    let client = |r: &Reference| clients.get(r.registry()).context("no client for the registry");
    let sinks = destinations
        .iter()
        .map(|r| Ok(Repository { client: client(r)?, name: r.repository().to_owned() }))
        .collect::<Result<Vec<_>>>()?;
    let dest_of = |name: &Reference| destinations.iter().position(|r| r.name() == name.name()).unwrap_or(0);

    // The plain layers of built images go up gzipped as they stream, once per run: their
    // digests are known only then, and every other repository gets the same bytes again.
    let mut gzipped: BTreeMap<Digest, Descriptor> = BTreeMap::new();
    for (i, name) in pushes {
        let sink = &sinks[dest_of(name)];
        for image in found[*i].images() {
            for layer in image.layers.iter().filter(|l| gzips(image, l, compress)) {
                if gzipped.contains_key(&layer.descriptor.digest) {
                    continue;
                }
                let plain = &layer.descriptor;
                let (digest, size) = sink
                    .client
                    .upload_hashed_blob(&sink.name, Blob::Gzip(archive.blob_source(layer)), &mut |_| {})
                    .await
                    .with_context(|| format!("pushing layer {} to {}, gzipped on the way", plain.digest, sink.name))?;
                let percent = size.saturating_mul(100) / plain.size.max(1);
                progress.step(format!(
                    "blob {digest}: uploaded (gzip of {}, {percent}% of {} bytes)",
                    plain.digest, plain.size
                ));
                archive.mark_checked(&plain.digest);
                gzipped.insert(plain.digest.clone(), Descriptor::new(MediaType::DockerLayerGzip, digest, size));
            }
        }
    }

    // Every blob everywhere before the first manifest: a bad archive leaves no tag.
    let mut plans: Vec<Push> = Vec::new();
    for (i, name) in pushes {
        let f = &found[*i];
        let dest = dest_of(name);
        let mut source = Overlay::new(archive);
        let top = match manifest_as_pushed(f, &gzipped, compress)? {
            Some(manifest) => {
                if let Content::Image(image) = &f.content {
                    for layer in image.layers.iter().filter(|l| gzips(image, l, compress)) {
                        if let Some(gz) = gzipped.get(&layer.descriptor.digest) {
                            source.add_blob(gz.digest.clone(), Blob::Gzip(archive.blob_source(layer)));
                        }
                    }
                }
                source.add_document(manifest.raw().to_vec(), manifest.media_type().clone())
            }
            None => f.top().1,
        };
        let plan = copy::plan(&source, top.digest.as_str(), &Platforms::All)
            .await
            .with_context(|| format!("reading {} of the archive", f.origin))?;
        let mut on = |event: CopyEvent| report(progress, event);
        copy::put_blobs(&source, &sinks[dest], &plan.layers, JOBS, &mut on).await?;
        copy::put_blobs(&source, &sinks[dest], &plan.configs, JOBS, &mut on).await?;
        plans.push(Push { dest, name: name.clone(), source, plan });
    }

    // Then the manifests: an index's entries by digest, then each tag.
    let mut lines = Vec::new();
    for push in &plans {
        let top = &push.plan.top.descriptor.digest;
        let reference = match (push.name.tag(), push.name.digest()) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, Some(d)) if d == top => None,
            (None, Some(d)) => bail!("{} is {top}, not {d}", push.name),
            (None, None) => Some("latest".to_owned()),
        };
        let mut on = |event: CopyEvent| report(progress, event);
        let digest = copy::put_documents(&sinks[push.dest], &push.plan, reference.as_deref(), &mut on).await?;
        let _ = &push.source;
        lines.push(push.name.with_digest(digest).to_string());
    }
    Ok(lines)
}

/// Blobs moved at a time.
const JOBS: usize = super::transfer::DEFAULT_JOBS;
