//! A layer blob a worker reads as it downloads (see [`Fetch`]) and holds to its digest and
//! size once it has read it to the end.

use layerize_core::descriptor::Descriptor;
use layerize_core::layer::read::LayerReader;
use layerize_core::{Digest, Reference};
use layerize_registry::transport::proxy::{BlobCheck, Vouching};
use serde::{Deserialize, Serialize};

use crate::api::{self, Logins};
use crate::archive_base::ArchiveBase;
use crate::blob_ring::{self, RingRead};
use crate::layer_fetch::Fetcher;
use crate::range_read::RangeRead;

/// Where a layer is and what it must be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoteLayer {
    /// Its digest; also names it in errors.
    pub digest: Digest,
    /// The proxied blob URL, or an object URL of a slice of an opened tar.
    pub url: String,
    /// Whether a "checked" label on the download is believed (only from the page's own proxy).
    pub vouching: Vouching,
    /// The pull's Authorization header: a secret, sent only to `url`.
    pub authorization: Option<String>,
    pub size: u64,
}

impl RemoteLayer {
    /// Runs `read` on the layer's core reader as the blob arrives, then reads whatever `read`
    /// left and checks the whole blob: a result from bytes that fail the check is not returned.
    /// `on_fetched(done, size)` follows the download.
    pub fn read_verified<T>(
        &self,
        fetch: &Fetch,
        on_fetched: &mut dyn FnMut(u64, u64),
        read: impl FnOnce(&mut LayerReader<&mut Source<'_>>) -> Result<T, layerize_core::Error>,
    ) -> Result<T, String> {
        let mut source = match fetch {
            Fetch::Ring(fetcher) => {
                Source::Ring { ring: fetcher.open(self)?, size: self.size, reported: 0, on_fetched }
            }
            Fetch::Range => {
                Source::Range(RangeRead::new(self.url.clone(), self.authorization.clone(), self.size, on_fetched))
            }
        };
        let result = {
            let what = self.digest.to_string();
            let mut reader = LayerReader::new_digest_checked(&what, &mut source).map_err(|e| e.to_string())?;
            read(&mut reader).map_err(|e| e.to_string())?
        };
        let (check, len) = source.finish().map_err(|e| format!("reading layer {}: {e}", self.digest))?;
        if !check.confirms(&self.digest) || len != self.size {
            return Err(format!(
                "layer {} does not match its descriptor: {len} of {} bytes, and {}",
                self.digest,
                self.size,
                check.describe()
            ));
        }
        Ok(result)
    }
}

/// How a reading worker gets layer bytes. A worker blocks while the core reads, so it cannot
/// download at the same time: with shared memory (the page is cross-origin isolated) a second
/// worker streams each layer into a ring, and fetching, hashing and inflating overlap; without
/// it, the reading worker makes one synchronous Range request per chunk.
#[derive(Debug)]
pub enum Fetch {
    Ring(Fetcher),
    Range,
}

impl Fetch {
    /// The fastest way this page allows.
    pub async fn start() -> Result<Fetch, String> {
        if blob_ring::available() {
            Ok(Fetch::Ring(Fetcher::start().await?))
        } else {
            Ok(Fetch::Range)
        }
    }
}

/// The bytes of one layer as the reading worker sees them.
pub enum Source<'a> {
    Ring { ring: RingRead, size: u64, reported: u64, on_fetched: &'a mut dyn FnMut(u64, u64) },
    Range(RangeRead<'a>),
}

impl std::fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Ring { ring, .. } => ring.fmt(f),
            Source::Range(range) => range.fmt(f),
        }
    }
}

/// Progress goes to the page every this many bytes.
const REPORT_EVERY: u64 = 4 << 20;

impl Source<'_> {
    /// Reads what is left; how the whole blob was checked, and its length.
    fn finish(self) -> std::io::Result<(BlobCheck, u64)> {
        match self {
            Source::Ring { ring, size, on_fetched, .. } => {
                let done = ring.finish()?;
                on_fetched(done.1, size);
                Ok(done)
            }
            Source::Range(range) => range.finish(),
        }
    }
}

impl std::io::Read for Source<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Source::Ring { ring, size, reported, on_fetched } => {
                let n = ring.read(out)?;
                if ring.position() >= *reported + REPORT_EVERY {
                    *reported = ring.position();
                    on_fetched(*reported, *size);
                }
                Ok(n)
            }
            Source::Range(range) => range.read(out),
        }
    }
}

/// Where an image's layers are read from.
#[derive(Clone, Debug)]
pub enum LayerOrigin {
    /// Its repository, through the proxy, with the page's login.
    Registry { reference: Reference, logins: Logins },
    /// The image tar opened as the base: slices of the file.
    Archive(ArchiveBase),
}

/// Where the worker finds `layer`: for a registry, the proxied URL and the Authorization header
/// the registry client negotiated for it; for an opened tar, an object URL of the layer's slice
/// of the file (see [`ArchiveBase::layer_url`]).
pub async fn locate(origin: &LayerOrigin, layer: &Descriptor) -> Result<RemoteLayer, String> {
    let (url, authorization, vouching) = match origin {
        LayerOrigin::Registry { reference, logins } => api::blob_access(reference, logins, &layer.digest).await?,
        LayerOrigin::Archive(archive) => (archive.layer_url(&layer.digest)?, None, Vouching::NotBelieved),
    };
    Ok(RemoteLayer { digest: layer.digest.clone(), url, authorization, vouching, size: layer.size })
}
