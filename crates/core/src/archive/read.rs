//! Finding the images in an archive: `manifest.json` (what `docker load` reads) lists them;
//! the OCI layout beside it (Docker 25+, containerd, podman, skopeo) holds their manifests'
//! exact bytes. An archive with only `index.json` is read as an OCI layout.
//!
//! Everything small (manifests, configs) is read and checked here; layers are only located,
//! and carry what their bytes must hash to, for whoever streams them later.

use std::collections::HashMap;
use std::io::{Read, Seek};

use super::docker::{docker_manifest, parse_manifest_json, ManifestEntry, MANIFEST_JSON};
use super::members::{FileMember, Members};
use super::oci_layout::{blob_digest, blob_path, name_of, parse_index_json, INDEX_JSON};
use super::verify::Expected;
use crate::config::Config;
use crate::descriptor::Descriptor;
use crate::digest::{Digest, Hasher};
use crate::error::Error;
use crate::manifest::{ImageManifest, Index, Manifest};
use crate::media_type::{Compression, MediaType};
use crate::platform::Platform;
use crate::reference::Reference;

/// A blob of an archived image: what points at it and the member holding its bytes.
#[derive(Clone, Debug)]
pub struct ArchivedBlob {
    pub descriptor: Descriptor,
    pub member: FileMember,
    /// For a layer of a container image: the diffID the config lists for it.
    pub diff_id: Option<Digest>,
}

impl ArchivedBlob {
    /// What streaming this blob must yield.
    pub fn expected(&self) -> Expected {
        Expected {
            member: self.member.path.clone(),
            digest: self.descriptor.digest.clone(),
            size: self.descriptor.size,
            diff_id: self.diff_id.clone(),
            compression: self.descriptor.media_type.layer_compression().unwrap_or(Compression::None),
        }
    }
}

/// One image manifest found in an archive, with its config and the members of its blobs.
#[derive(Clone, Debug)]
pub struct ArchivedImage {
    /// The archive's own manifest bytes, or, for a `manifest.json`-only image, a Docker v2
    /// schema 2 manifest built over the layers as they are stored.
    pub manifest: ImageManifest,
    pub config_blob: ArchivedBlob,
    /// The parsed config, for images (not for artifacts such as attestations).
    pub config: Option<Config>,
    pub layers: Vec<ArchivedBlob>,
    /// Whether `manifest` was built here rather than found in the archive.
    pub built: bool,
}

impl ArchivedImage {
    /// Every layer, then the config: the order blobs are pushed in.
    pub fn blobs(&self) -> impl Iterator<Item = &ArchivedBlob> {
        self.layers.iter().chain(std::iter::once(&self.config_blob))
    }
}

/// What one entry of an archive is.
#[derive(Clone, Debug)]
pub enum Content {
    Image(ArchivedImage),
    /// A whole index whose every manifest the archive holds.
    Index {
        index: Index,
        manifests: Vec<ArchivedImage>,
    },
}

/// One entry of an archive: an image or a complete index, and the names it carries.
#[derive(Clone, Debug)]
pub struct Found {
    pub content: Content,
    pub names: Vec<Reference>,
    /// Where in the archive it was found (`manifest.json image 2`), for messages.
    pub origin: String,
}

impl Found {
    /// The manifest a tag would point at: the image's or the index's.
    pub fn top(&self) -> (&[u8], Descriptor) {
        match &self.content {
            Content::Image(image) => (image.manifest.raw(), image.manifest.descriptor()),
            Content::Index { index, .. } => (
                index.raw(),
                Descriptor::new(index.media_type().clone(), index.digest().clone(), index.raw().len() as u64),
            ),
        }
    }

    pub fn images(&self) -> &[ArchivedImage] {
        match &self.content {
            Content::Image(image) => std::slice::from_ref(image),
            Content::Index { manifests, .. } => manifests,
        }
    }
}

/// The one container image an archive holds (the base of an append): its manifest, config
/// and layer blobs. An index is narrowed to `platform`'s image; an archive of several images,
/// or of an artifact, is refused in words.
pub fn single_image(
    found: Vec<Found>,
    platform: &Platform,
) -> Result<(ImageManifest, Config, Vec<ArchivedBlob>), Error> {
    let [found] = <[Found; 1]>::try_from(found).map_err(|all| {
        let names: Vec<String> = all.iter().map(|f| f.origin.clone()).collect();
        Error::InvalidArchive {
            problem: format!("holds {} images ({}), where one is needed", all.len(), names.join(", ")),
        }
    })?;
    let origin = found.origin;
    let image = match found.content {
        Content::Image(image) => image,
        Content::Index { index, manifests } => {
            let entry = platform.select(&index.manifests)?;
            manifests.into_iter().find(|m| m.manifest.digest() == &entry.digest).ok_or_else(|| {
                Error::InvalidArchive { problem: format!("lacks image {} of its index ({origin})", entry.digest) }
            })?
        }
    };
    let Some(config) = image.config else {
        let media_type = &image.manifest.config.media_type;
        return Err(Error::InvalidArchive {
            problem: format!("holds an artifact ({media_type}) at {origin}, not a container image"),
        });
    };
    Ok((image.manifest, config, image.layers))
}

/// Finds every image in the archive. `platform` picks one image of an index the archive holds
/// only in part (a containerd export of one platform); `platform_given` says whether the user
/// chose it (otherwise a lone complete image is taken whatever its platform).
pub fn find_images<R: Read + Seek>(
    members: &Members,
    reader: &mut R,
    platform: &Platform,
    platform_given: bool,
) -> Result<Vec<Found>, Error> {
    let has_docker = members.has_file(MANIFEST_JSON);
    let has_oci = members.has_file(INDEX_JSON);
    if !has_docker && !has_oci {
        return Err(Error::InvalidArchive {
            problem: "has neither manifest.json (docker save) nor index.json (OCI layout), so it holds no image".into(),
        });
    }
    let mut reader = Reader { members, reader, hashed: HashMap::new() };
    let oci = if has_oci { reader.oci_entries()? } else { Vec::new() };
    if !has_docker {
        return oci_only(oci, platform, platform_given);
    }
    let bytes = members.file(MANIFEST_JSON, "docker load")?.read_all(reader.reader)?;
    let entries = parse_manifest_json(&bytes)?;
    // Beside manifest.json the OCI layout only lends exact manifest bytes; an entry of it that
    // cannot be read (early Docker 25 wrote manifests without their layers) lends none.
    let known: Vec<&ArchivedImage> =
        oci.iter().filter_map(|(_, node)| node.as_ref().ok()).flat_map(Node::images).collect();
    let mut found = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let origin = format!("{MANIFEST_JSON} image {}", i + 1);
        let names = entry
            .repo_tags
            .iter()
            .map(|t| {
                t.parse::<Reference>().map_err(|e| Error::InvalidMember {
                    member: MANIFEST_JSON.into(),
                    problem: format!("image {}: RepoTags: {e}", i + 1),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let image = reader.docker_image(entry, &known, &origin)?;
        found.push(Found { content: Content::Image(image), names, origin });
    }
    Ok(found)
}

/// What an `index.json` entry turned out to be.
enum Node {
    Image(Box<ArchivedImage>),
    Index { index: Index, children: Vec<(Descriptor, Result<Node, Error>)> },
}

impl Node {
    fn images(&self) -> Vec<&ArchivedImage> {
        match self {
            Node::Image(image) => vec![image],
            Node::Index { children, .. } => {
                children.iter().filter_map(|(_, c)| c.as_ref().ok()).flat_map(Node::images).collect()
            }
        }
    }
}

/// The entries of `index.json`, each read or the reason it could not be.
type OciEntries = Vec<(Descriptor, Result<Node, Error>)>;

struct Reader<'a, R> {
    members: &'a Members,
    reader: &'a mut R,
    /// Digests of the members hashed so far: `manifest.json` may name one large layer member
    /// many times, and hashing it once per mention made reading an archive quadratic.
    hashed: HashMap<String, Digest>,
}

impl<R: Read + Seek> Reader<'_, R> {
    fn oci_entries(&mut self) -> Result<OciEntries, Error> {
        let bytes = self.members.file(INDEX_JSON, "the OCI layout")?.read_all(self.reader)?;
        let index = parse_index_json(bytes)?;
        let mut nodes = Vec::new();
        for (i, descriptor) in index.manifests.iter().enumerate() {
            let node = self.node(descriptor, &format!("{INDEX_JSON} entry {}", i + 1), 0);
            nodes.push((descriptor.clone(), node));
        }
        Ok(nodes)
    }

    /// Reads the manifest or index `descriptor` names, and below an index each child (a child
    /// that is missing is recorded, not fatal: exports often hold one platform only).
    fn node(&mut self, descriptor: &Descriptor, named_by: &str, depth: usize) -> Result<Node, Error> {
        let bytes = self.blob_bytes(descriptor, named_by)?;
        let member = blob_path(&descriptor.digest);
        match Manifest::parse(&member, bytes, Some(descriptor.media_type.as_str()))? {
            Manifest::Image(manifest) => Ok(Node::Image(Box::new(self.image(manifest, &member)?))),
            Manifest::Index(index) if depth < 2 => {
                let children =
                    index.manifests.iter().map(|child| (child.clone(), self.node(child, &member, depth + 1))).collect();
                Ok(Node::Index { index, children })
            }
            Manifest::Index(_) => Err(Error::InvalidMember {
                member,
                problem: "is an index nested three deep, which is not supported".into(),
            }),
        }
    }

    /// The bytes of a small blob, checked against its descriptor.
    fn blob_bytes(&mut self, descriptor: &Descriptor, named_by: &str) -> Result<Vec<u8>, Error> {
        let member = self.members.file(&blob_path(&descriptor.digest), named_by)?;
        let bytes = member.read_all(self.reader)?;
        check_bytes(&member.path, &bytes, &descriptor.digest, Some(descriptor.size))?;
        Ok(bytes)
    }

    /// An image manifest of the OCI layout with its config read and its layers located.
    fn image(&mut self, manifest: ImageManifest, member: &str) -> Result<ArchivedImage, Error> {
        let config_bytes = self.blob_bytes(&manifest.config, member)?;
        let config_member = self.members.file(&blob_path(&manifest.config.digest), member)?;
        let is_image = matches!(manifest.config.media_type, MediaType::DockerConfig | MediaType::OciConfig)
            && manifest.layers.iter().all(|l| l.media_type.is_layer());
        let config = if is_image { Some(Config::parse(&config_member.path, config_bytes)?) } else { None };
        let diff_ids = match &config {
            Some(config) => {
                let ids = config
                    .diff_ids()
                    .map_err(|problem| Error::InvalidConfig { what: config_member.path.clone(), problem })?;
                if ids.len() != manifest.layers.len() {
                    return Err(Error::InvalidMember {
                        member: member.to_owned(),
                        problem: format!(
                            "has {} layers but its config lists {} diffIDs",
                            manifest.layers.len(),
                            ids.len()
                        ),
                    });
                }
                ids.into_iter().map(Some).collect()
            }
            None => vec![None; manifest.layers.len()],
        };
        let mut layers = Vec::new();
        for (descriptor, diff_id) in manifest.layers.iter().zip(diff_ids) {
            let layer = self.members.file(&blob_path(&descriptor.digest), member)?;
            check_size(&layer, descriptor.size)?;
            layers.push(ArchivedBlob { descriptor: descriptor.clone(), member: layer, diff_id });
        }
        let config_blob = ArchivedBlob { descriptor: manifest.config.clone(), member: config_member, diff_id: None };
        Ok(ArchivedImage { manifest, config_blob, config, layers, built: false })
    }

    /// A `manifest.json` image: the OCI layout's manifest for it when there is one with the
    /// same config and layer members, else a Docker v2 schema 2 manifest built over them.
    fn docker_image(
        &mut self,
        entry: &ManifestEntry,
        known: &[&ArchivedImage],
        origin: &str,
    ) -> Result<ArchivedImage, Error> {
        let config_member = self.members.file(&entry.config, MANIFEST_JSON)?;
        let config_bytes = config_member.read_all(self.reader)?;
        let config_digest = Digest::sha256(&config_bytes);
        if let Some(named) = named_digest(&config_member.path) {
            check_bytes(&config_member.path, &config_bytes, &named, None)?;
        }
        let layer_members =
            entry.layers.iter().map(|l| self.members.file(l, MANIFEST_JSON)).collect::<Result<Vec<_>, _>>()?;
        let matching = known.iter().find(|image| {
            image.manifest.config.digest == config_digest
                && image.layers.len() == layer_members.len()
                && image.layers.iter().zip(&layer_members).all(|(l, m)| l.member.path == m.path)
        });
        if let Some(image) = matching {
            return Ok((*image).clone());
        }
        let config = Config::parse(&config_member.path, config_bytes)?;
        let diff_ids =
            config.diff_ids().map_err(|problem| Error::InvalidConfig { what: config_member.path.clone(), problem })?;
        if diff_ids.len() != layer_members.len() {
            return Err(Error::InvalidMember {
                member: MANIFEST_JSON.into(),
                problem: format!(
                    "{origin} has {} layers but its config {} lists {} diffIDs",
                    layer_members.len(),
                    config_member.path,
                    diff_ids.len()
                ),
            });
        }
        let mut layers = Vec::new();
        for (member, diff_id) in layer_members.into_iter().zip(diff_ids) {
            let descriptor = match Compression::sniff(&member.head(self.reader)?) {
                // Stored as they are: the digest of an uncompressed layer is its diffID.
                Compression::None => Descriptor::new(MediaType::DockerLayer, diff_id.clone(), member.size),
                Compression::Gzip => {
                    let digest = match named_digest(&member.path) {
                        Some(d) => d,
                        None => self.hash(&member)?,
                    };
                    Descriptor::new(MediaType::DockerLayerGzip, digest, member.size)
                }
                Compression::Zstd => return Err(Error::InvalidMember {
                    member: member.path,
                    problem:
                        "is a zstd layer without an OCI manifest in the archive; Docker v2 schema 2 has no zstd layers"
                            .into(),
                }),
            };
            layers.push(ArchivedBlob { descriptor, member, diff_id: Some(diff_id) });
        }
        let config_descriptor = Descriptor::new(MediaType::DockerConfig, config_digest, config.raw().len() as u64);
        let descriptors: Vec<Descriptor> = layers.iter().map(|l| l.descriptor.clone()).collect();
        let manifest = docker_manifest(origin, &config_descriptor, &descriptors)?;
        let config_blob = ArchivedBlob { descriptor: config_descriptor, member: config_member, diff_id: None };
        Ok(ArchivedImage { manifest, config_blob, config: Some(config), layers, built: true })
    }

    fn hash(&mut self, member: &FileMember) -> Result<Digest, Error> {
        if let Some(digest) = self.hashed.get(&member.path) {
            return Ok(digest.clone());
        }
        let mut reader = member.reader(self.reader)?;
        let mut hasher = Hasher::new();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(member.read_error(e)),
            }
        }
        let digest = hasher.finish();
        self.hashed.insert(member.path.clone(), digest.clone());
        Ok(digest)
    }
}

/// Images of an archive without `manifest.json`: each `index.json` entry, an index whole if
/// the archive holds all of it, else the one image of it the platform picks.
fn oci_only(nodes: OciEntries, platform: &Platform, platform_given: bool) -> Result<Vec<Found>, Error> {
    let mut found: Vec<Found> = Vec::new();
    for (i, (descriptor, node)) in nodes.into_iter().enumerate() {
        let node = node?;
        let origin = format!("{INDEX_JSON} entry {}", i + 1);
        let names: Vec<Reference> = name_of(&descriptor).into_iter().collect();
        // One manifest under several tags is one entry with several names.
        if let Some(same) = found.iter_mut().find(|f| f.top().1.digest == descriptor.digest) {
            for name in names {
                if !same.names.contains(&name) {
                    same.names.push(name);
                }
            }
            continue;
        }
        let content = match node {
            Node::Image(image) => Content::Image(*image),
            Node::Index { index, children } => {
                let complete = children.iter().all(|(_, c)| matches!(c, Ok(Node::Image(_))));
                if complete {
                    let manifests = children.into_iter().filter_map(|(_, c)| match c {
                        Ok(Node::Image(image)) => Some(*image),
                        _ => None,
                    });
                    Content::Index { index, manifests: manifests.collect() }
                } else {
                    Content::Image(pick(&origin, children, platform, platform_given)?)
                }
            }
        };
        found.push(Found { content, names, origin });
    }
    Ok(found)
}

/// The image of a partly present index to take: the platform's, or the only one present.
fn pick(
    origin: &str,
    children: Vec<(Descriptor, Result<Node, Error>)>,
    platform: &Platform,
    platform_given: bool,
) -> Result<ArchivedImage, Error> {
    let mut first_error = None;
    let mut present = Vec::new();
    for (descriptor, child) in children {
        match child {
            Ok(Node::Image(image)) => present.push((descriptor, *image)),
            Ok(Node::Index { .. }) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let descriptors: Vec<Descriptor> = present.iter().map(|(d, _)| d.clone()).collect();
    let images: Vec<&Descriptor> = descriptors.iter().filter(|d| !d.is_attestation()).collect();
    let chosen = if images.len() == 1 && !platform_given {
        images[0].digest.clone()
    } else if images.is_empty() {
        return Err(
            first_error.unwrap_or_else(|| Error::InvalidArchive { problem: format!("has no image in {origin}") })
        );
    } else {
        platform.select(&descriptors)?.digest.clone()
    };
    present
        .into_iter()
        .find(|(d, _)| d.digest == chosen)
        .map(|(_, image)| image)
        .ok_or_else(|| Error::InvalidArchive { problem: format!("lost the chosen image of {origin}") })
}

/// The digest a member is named after: `blobs/sha256/<hex>`, or legacy `<hex>.json`.
fn named_digest(path: &str) -> Option<Digest> {
    blob_digest(path).or_else(|| {
        let hex = path.strip_suffix(".json")?;
        (!hex.contains('/')).then(|| format!("sha256:{hex}").parse().ok()).flatten()
    })
}

fn check_bytes(member: &str, bytes: &[u8], digest: &Digest, size: Option<u64>) -> Result<(), Error> {
    let mismatch = |what: &'static str, expected: String, found: String| Error::MemberMismatch {
        member: member.to_owned(),
        what,
        expected,
        found,
    };
    if let Some(size) = size.filter(|s| *s != bytes.len() as u64) {
        return Err(mismatch("size", size.to_string(), bytes.len().to_string()));
    }
    if digest.algorithm() != "sha256" {
        return Err(Error::InvalidMember {
            member: member.to_owned(),
            problem: format!("is named by a {} digest; only sha256 can be checked", digest.algorithm()),
        });
    }
    let found = Digest::sha256(bytes);
    if &found != digest {
        return Err(mismatch("digest", digest.to_string(), found.to_string()));
    }
    Ok(())
}

fn check_size(member: &FileMember, size: u64) -> Result<(), Error> {
    if member.size != size {
        return Err(Error::MemberMismatch {
            member: member.path.clone(),
            what: "size",
            expected: size.to_string(),
            found: member.size.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
