//! `layerize images`: the images in the local store.

use anyhow::Result;
use layerize_core::config::Config;
use layerize_core::manifest::Manifest;
use layerize_core::Reference;
use layerize_store::layout::{Layout, Named};
use serde::Serialize;

use crate::store::StoreFlag;

/// Example: `layerize images --json`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// One JSON object per image, in an array.
    #[arg(long)]
    json: bool,
}

/// One stored image, as listed.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    repository: String,
    tag: String,
    digest: String,
    /// Bytes of its blobs as stored (compressed layers, configs; every platform of an index).
    size: u64,
    /// The config's `created`, for a single image or an index's first image.
    created: Option<String>,
}

pub fn run(args: Args, store: StoreFlag) -> Result<()> {
    let rows = match store.open_existing()? {
        Some(layout) => layout.names()?.into_iter().map(|named| row(&layout, named)).collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let width = rows.iter().map(|r| r.repository.len()).max().unwrap_or(0).max("REPOSITORY".len());
    let tag_width = rows.iter().map(|r| r.tag.len()).max().unwrap_or(0).max("TAG".len());
    println!("{:width$}  {:tag_width$}  {:19}  {:>10}  CREATED", "REPOSITORY", "TAG", "DIGEST", "SIZE");
    for r in rows {
        let short = r.digest.get(..19).unwrap_or(&r.digest);
        let created = r.created.as_deref().unwrap_or("-");
        println!("{:width$}  {:tag_width$}  {short:19}  {:>10}  {created}", r.repository, r.tag, human(r.size));
    }
    Ok(())
}

fn row(layout: &Layout, named: Named) -> Result<Row> {
    let (repository, tag) = match named.name.parse::<Reference>() {
        Ok(r) => (format!("{}/{}", r.registry(), r.repository()), r.tag().unwrap_or("<none>").to_owned()),
        Err(_) => (named.name.clone(), "<none>".to_owned()),
    };
    let mut size = 0;
    let mut created = None;
    let mut todo = vec![named.descriptor.digest.clone()];
    while let Some(digest) = todo.pop() {
        let Ok(raw) = layout.read_blob(&digest, layerize_registry::MAX_DOCUMENT_SIZE as u64) else { continue };
        match Manifest::parse(digest.as_str(), raw, None)? {
            Manifest::Index(index) => todo.extend(index.manifests.iter().rev().map(|m| m.digest.clone())),
            Manifest::Image(image) => {
                size += image.config.size + image.layers.iter().map(|l| l.size).sum::<u64>();
                if created.is_none() {
                    created = layout
                        .read_blob(&image.config.digest, layerize_registry::MAX_DOCUMENT_SIZE as u64)
                        .ok()
                        .and_then(|raw| Config::parse(image.config.digest.as_str(), raw).ok())
                        .and_then(|c| c.summary().created);
                }
            }
        }
    }
    Ok(Row { name: named.name, repository, tag, digest: named.descriptor.digest.to_string(), size, created })
}

/// Sizes as `docker images` shows them.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}
