//! Which blobs of a layout its named images still use, and removing the rest.

use std::collections::BTreeSet;

use layerize_core::manifest::Manifest;
use layerize_core::Digest;

use crate::error::Error;
use crate::layout::Layout;

/// What a collection removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    pub blobs: usize,
    pub bytes: u64,
}

/// Every blob reachable from the entries of `index.json`: manifests, indexes (and what they
/// list), configs and layers.
pub fn reachable(layout: &Layout) -> Result<BTreeSet<Digest>, Error> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<Digest> = layout.entries()?.into_iter().map(|d| d.digest).collect();
    while let Some(digest) = todo.pop() {
        if !seen.insert(digest.clone()) {
            continue;
        }
        let raw = match layout.read_blob(&digest, layerize_registry::MAX_DOCUMENT_SIZE as u64) {
            Ok(raw) => raw,
            // A name pointing at nothing keeps nothing else alive.
            Err(Error::MissingBlob { .. }) => continue,
            Err(e) => return Err(e),
        };
        match Manifest::parse(digest.as_str(), raw, None)? {
            Manifest::Image(image) => {
                seen.insert(image.config.digest.clone());
                seen.extend(image.layers.iter().map(|l| l.digest.clone()));
            }
            Manifest::Index(index) => todo.extend(index.manifests.iter().map(|m| m.digest.clone())),
        }
    }
    Ok(seen)
}

/// Removes every blob no named image uses, holding the layout's collection lock so that no
/// pull is between writing blobs and naming them.
pub fn collect(layout: &Layout) -> Result<Collected, Error> {
    let _collecting = layout.collecting()?;
    let keep = reachable(layout)?;
    let mut collected = Collected::default();
    for (digest, size) in layout.blobs()? {
        if !keep.contains(&digest) {
            layout.remove_blob(&digest)?;
            collected.blobs += 1;
            collected.bytes += size;
        }
    }
    Ok(collected)
}
