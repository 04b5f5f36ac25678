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

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use layerize_core::archive::docker::docker_manifest;
use layerize_core::archive::{ArchivedBlob, ArchivedImage, Content, Found};
use layerize_core::manifest::ImageManifest;
use layerize_core::{Digest, MediaType, Platform, Reference};
use layerize_registry::transport::native::Native;
use layerize_registry::Client;

use crate::archive_file::ArchiveFile;
use crate::blob_source::Blob;
use crate::progress::Progress;
use crate::remote::{Access, RegistryFlags};
use crate::upload::{push_blobs, put_manifests, Destination, ManifestPut, Pushed, Upload};

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
    /// No progress on stderr.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    let progress = Progress { quiet: args.quiet };
    let target: Option<Reference> = args.target.as_deref().map(str::parse).transpose()?;
    let platform: Platform = match &args.platform {
        Some(p) => p.parse()?,
        None => crate::resolve::host_platform(),
    };
    let archive = ArchiveFile::open(&args.file)?;
    let found = archive.find(&platform, args.platform.is_some())?;
    let shown = args.file.display();
    let pushes = names(&found, target, &shown.to_string())?;
    let compress = !args.no_compress;
    for f in &found {
        progress.step(format!("{}: {}", f.origin, summary(f, compress)));
    }
    let mut registries: Vec<String> = pushes.iter().map(|(_, r)| r.registry().to_owned()).collect();
    registries.dedup();
    let access = args.registry.access(registries)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let pushed = runtime
        .block_on(push_all(&archive, &found, &pushes, &access, compress, progress))
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

/// For each entry, the manifest to push in place of [`Found::top`]'s: for a built image with
/// layers that went up gzipped, one over the blobs they became.
fn manifests_as_pushed(found: &[Found], pushed: &Pushed, compress: bool) -> Result<Vec<Option<ImageManifest>>> {
    let mut manifests = Vec::new();
    for f in found {
        let Content::Image(image) = &f.content else {
            manifests.push(None);
            continue;
        };
        if !image.layers.iter().any(|l| gzips(image, l, compress)) {
            manifests.push(None);
            continue;
        }
        let mut layers = Vec::new();
        for layer in &image.layers {
            let descriptor = if gzips(image, layer, compress) {
                pushed
                    .gzipped
                    .get(&layer.descriptor.digest)
                    .with_context(|| format!("layer {} was not pushed", layer.descriptor.digest))?
            } else {
                &layer.descriptor
            };
            layers.push(descriptor.clone());
        }
        manifests.push(Some(docker_manifest(&f.origin, &image.config_blob.descriptor, &layers)?));
    }
    Ok(manifests)
}

fn layers(n: usize) -> String {
    if n == 1 {
        "1 layer".into()
    } else {
        format!("{n} layers")
    }
}

async fn push_all(
    archive: &ArchiveFile,
    found: &[Found],
    pushes: &[(usize, Reference)],
    access: &Access,
    compress: bool,
    progress: Progress,
) -> Result<Vec<String>> {
    let mut clients: BTreeMap<String, Client<Native>> = BTreeMap::new();
    // One destination per repository, in the order the names came.
    let mut destinations: Vec<(Reference, Vec<(usize, Reference)>)> = Vec::new();
    for (i, name) in pushes {
        if !clients.contains_key(name.registry()) {
            clients.insert(name.registry().to_owned(), access.client(name)?);
        }
        match destinations.iter_mut().find(|(r, _)| r.name() == name.name()) {
            Some((_, list)) => list.push((*i, name.clone())),
            None => destinations.push((name.clone(), vec![(*i, name.clone())])),
        }
    }
    let client = |r: &Reference| clients.get(r.registry()).context("no client for the registry");

    // Every blob everywhere first.
    let mut pushed = Pushed::default();
    let mut holder: BTreeMap<String, String> = BTreeMap::new();
    for (repo, list) in &destinations {
        let dest = Destination {
            client: client(repo)?,
            repository: repo.repository().to_owned(),
            mount_from: holder.get(repo.registry()).cloned(),
        };
        // Each blob once per repository; a plain layer that goes up gzipped is another blob
        // than the same layer pushed as stored.
        let mut seen: BTreeSet<(Digest, bool)> = BTreeSet::new();
        let mut blobs: Vec<Upload> = Vec::new();
        for (i, _) in list {
            for image in found[*i].images() {
                for blob in image.blobs() {
                    let gzip = gzips(image, blob, compress);
                    if !seen.insert((blob.descriptor.digest.clone(), gzip)) {
                        continue;
                    }
                    let source = archive.blob(blob);
                    blobs.push(if gzip {
                        Upload::Gzip(source)
                    } else {
                        Upload::Blob(blob.descriptor.clone(), Blob::Archive(source))
                    });
                }
            }
        }
        push_blobs(&dest, blobs, &mut pushed, progress).await?;
        holder.entry(repo.registry().to_owned()).or_insert_with(|| repo.repository().to_owned());
    }
    let built = manifests_as_pushed(found, &pushed, compress)?;

    // Then the manifests: an index's entries by digest, then each tag.
    let mut lines = Vec::new();
    for (repo, list) in &destinations {
        let dest = Destination { client: client(repo)?, repository: repo.repository().to_owned(), mount_from: None };
        let mut done: BTreeSet<Digest> = BTreeSet::new();
        for (i, name) in list {
            let f = &found[*i];
            let (top_bytes, top) = match &built[*i] {
                Some(manifest) => (manifest.raw(), manifest.descriptor()),
                None => f.top(),
            };
            let mut puts = Vec::new();
            if let Content::Index { manifests, .. } = &f.content {
                for image in manifests.iter().filter(|m| !done.contains(m.manifest.digest())) {
                    puts.push(ManifestPut {
                        bytes: image.manifest.raw(),
                        media_type: image.manifest.media_type(),
                        reference: image.manifest.digest().to_string(),
                    });
                }
            }
            let reference = match (name.tag(), name.digest()) {
                (Some(tag), _) => tag.to_owned(),
                (None, Some(d)) if d == &top.digest => d.to_string(),
                (None, Some(d)) => bail!("{} is {}, not {d}", f.origin, top.digest),
                (None, None) => "latest".to_owned(),
            };
            puts.push(ManifestPut { bytes: top_bytes, media_type: &top.media_type, reference });
            let digest = put_manifests(&dest, &puts, progress).await?.unwrap_or(top.digest.clone());
            done.extend(f.images().iter().map(|m| m.manifest.digest().clone()));
            lines.push(name.with_digest(digest).to_string());
        }
    }
    Ok(lines)
}
