//! An OCI image layout on disk: `oci-layout`, `index.json`, `blobs/<alg>/<hex>`.
//!
//! The local store is one, and so is every `oci:DIR`, so anything that reads OCI layouts
//! (skopeo, umoci, containerd's importer) reads what layerize writes. Writes are atomic: a blob
//! goes to a temp file under `.layerize/tmp/`, is checked against its digest, and only then is
//! renamed into `blobs/`, so a blob's name always matches its bytes, even after `kill -9`.
//! `index.json` is rewritten under an exclusive lock on `.layerize/lock` (temp file + rename),
//! so two processes naming images in one layout at once both land; blob writes need no lock
//! (two writers of one blob write the same bytes, and the last rename wins harmlessly).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use layerize_core::archive::oci_layout::{IMAGE_NAME, INDEX_JSON, OCI_LAYOUT, OCI_LAYOUT_CONTENT, REF_NAME};
use layerize_core::descriptor::Descriptor;
use layerize_core::digest::Hasher;
use layerize_core::{Digest, Reference};
use serde_json::{json, Map, Value};

pub use crate::blob_writer::BlobWriter;
use crate::blob_writer::{readable, BlobFile};
use crate::error::Error;

/// Where layerize keeps its own files inside a layout (temp files, the index lock); OCI
/// readers ignore names they do not know at the top of a layout.
const PRIVATE: &str = ".layerize";

/// An OCI image layout directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

/// A name in `index.json` and the descriptor it points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    pub name: String,
    pub descriptor: Descriptor,
}

impl Layout {
    /// Opens an existing layout; a directory without a valid `oci-layout` file is refused.
    pub fn open(root: &Path) -> Result<Layout, Error> {
        let marker = root.join(OCI_LAYOUT);
        let bytes = match fs::read(&marker) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let what = if root.is_dir() { "has no oci-layout file" } else { "does not exist" };
                return Err(Error::NotALayout { path: root.to_owned(), problem: what.into() });
            }
            Err(e) => return Err(Error::io("reading", &marker)(e)),
        };
        let version = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("imageLayoutVersion").and_then(Value::as_str).map(str::to_owned));
        match version.as_deref() {
            Some(v) if v.starts_with("1.") => Ok(Layout { root: root.to_owned() }),
            Some(v) => Err(Error::NotALayout { path: root.to_owned(), problem: format!("has layout version {v}") }),
            None => Err(Error::NotALayout {
                path: root.to_owned(),
                problem: "has an oci-layout file that is not valid".into(),
            }),
        }
    }

    /// Opens the layout at `root`, first making an empty one if `root` is absent or an empty
    /// directory. A directory holding anything else is refused rather than written into.
    pub fn open_or_create(root: &Path) -> Result<Layout, Error> {
        if root.join(OCI_LAYOUT).exists() {
            return Layout::open(root);
        }
        if root.exists() {
            // Only what another process creating the layout at this moment writes may be there.
            let mut entries = fs::read_dir(root).map_err(Error::io("reading", root))?;
            let foreign = entries.any(|e| {
                e.map(|e| {
                    !["blobs", INDEX_JSON, OCI_LAYOUT, PRIVATE].contains(&e.file_name().to_string_lossy().as_ref())
                })
                .unwrap_or(true)
            });
            if foreign {
                return Err(Error::NotALayout {
                    path: root.to_owned(),
                    problem: "is not empty and has no oci-layout file (not an OCI layout; refusing to write into it)"
                        .into(),
                });
            }
        }
        fs::create_dir_all(root.join("blobs/sha256")).map_err(Error::io("creating", root))?;
        let layout = Layout { root: root.to_owned() };
        {
            // Under the lock: another process making the same layout may be naming an image.
            let _lock = layout.lock()?;
            if !root.join(INDEX_JSON).exists() {
                layout.write_atomic(INDEX_JSON, &index_bytes(&empty_index()))?;
            }
        }
        layout.write_atomic(OCI_LAYOUT, OCI_LAYOUT_CONTENT)?;
        Ok(layout)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join(digest.algorithm()).join(digest.hex())
    }

    /// Whether the layout holds the blob with the size the descriptor gives. (Its bytes were
    /// checked when it was written; a size that differs means someone else put it there.)
    pub fn has_blob(&self, digest: &Digest, size: u64) -> bool {
        fs::metadata(self.blob_path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, Error> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::MissingBlob { layout: self.root.clone(), digest: digest.clone() },
            _ => Error::io("opening", &path)(e),
        })
    }

    /// A small blob (a manifest, a config), read whole and checked against its digest.
    pub fn read_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, Error> {
        let path = self.blob_path(digest);
        let mut bytes = Vec::new();
        self.open_blob(digest)?.take(limit + 1).read_to_end(&mut bytes).map_err(Error::io("reading", &path))?;
        if bytes.len() as u64 > limit {
            return Err(Error::Damaged { path, problem: format!("is larger than {limit} bytes") });
        }
        let found = Digest::sha256(&bytes);
        if &found != digest {
            return Err(Error::Damaged { path, problem: format!("holds bytes with digest {found}") });
        }
        Ok(bytes)
    }

    /// Starts writing the blob `digest` in a private temp file; [`BlobWriter::commit`] checks
    /// and renames it.
    pub fn blob_writer(&self, digest: &Digest) -> Result<BlobWriter, Error> {
        let tmp = self.temp_dir()?;
        let (file, temp) = tempfile::Builder::new()
            .prefix(&format!("blob-{}-", std::process::id()))
            .tempfile_in(&tmp)
            .map_err(Error::io("creating a temp file in", &tmp))?
            .into_parts();
        let path = temp.to_path_buf();
        let file = BlobFile::new(file, path, Some(temp), 0, self.blob_path(digest));
        Ok(BlobWriter::new(file, Hasher::new(), digest.clone()))
    }

    /// Where the partial download of `digest` is kept between runs.
    pub fn partial_path(&self, digest: &Digest) -> PathBuf {
        self.root.join(PRIVATE).join("partial").join(format!("{}-{}", digest.algorithm(), digest.hex()))
    }

    /// Continues (or starts) the download of `digest` in `.layerize/partial/`, where what an
    /// interrupted run wrote survives: the bytes there are hashed again and the writer takes
    /// up after them ([`BlobWriter::size`] says where). A partial another process is writing
    /// (it holds the file's lock) is left to it, and this writer starts a temp file instead.
    pub fn partial_writer(&self, digest: &Digest) -> Result<BlobWriter, Error> {
        let path = self.partial_path(digest);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(Error::io("opening", &path))?;
        if file.try_lock().is_err() {
            return self.blob_writer(digest);
        }
        let mut hasher = Hasher::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(Error::io("reading", &path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        let file = BlobFile::new(file, path, None, size, self.blob_path(digest));
        Ok(BlobWriter::new(file, hasher, digest.clone()))
    }

    /// Writes a whole blob held in memory (a manifest or config).
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest, Error> {
        let digest = Digest::sha256(bytes);
        if !self.has_blob(&digest, bytes.len() as u64) {
            let mut writer = self.blob_writer(&digest)?;
            writer.write_all(bytes).map_err(Error::io("writing", self.blob_path(&digest)))?;
            writer.commit()?;
        }
        Ok(digest)
    }

    /// The entries of `index.json`, with their names.
    pub fn names(&self) -> Result<Vec<Named>, Error> {
        let index = self.read_index()?;
        Ok(entries(&index).iter().filter_map(named).collect())
    }

    /// Every descriptor `index.json` lists, named or not.
    pub fn entries(&self) -> Result<Vec<Descriptor>, Error> {
        let index = self.read_index()?;
        entries(&index)
            .iter()
            .map(|entry| {
                serde_json::from_value(entry.clone()).map_err(|e| Error::Damaged {
                    path: self.root.join(INDEX_JSON),
                    problem: format!("has an entry that is not a descriptor: {e}"),
                })
            })
            .collect()
    }

    /// The descriptor named `name`: a full reference as the store names images, or, for a
    /// layout written by another tool, the bare `org.opencontainers.image.ref.name`.
    pub fn find(&self, name: &str) -> Result<Option<Descriptor>, Error> {
        Ok(self.names()?.into_iter().find(|n| n.name == name).map(|n| n.descriptor))
    }

    /// Points `name` at `descriptor`, replacing what it named before. Stored names are full
    /// references, written both as the OCI ref name (so `skopeo copy oci:STORE:NAME` finds
    /// it) and as containerd's image name.
    pub fn tag(&self, name: &str, descriptor: &Descriptor) -> Result<(), Error> {
        let mut value = serde_json::to_value(descriptor).map_err(|e| Error::Damaged {
            path: self.root.join(INDEX_JSON),
            problem: format!("cannot hold descriptor: {e}"),
        })?;
        let annotations = value.as_object_mut().map(|o| o.entry("annotations").or_insert_with(|| json!({})));
        if let Some(Value::Object(annotations)) = annotations {
            annotations.insert(REF_NAME.into(), json!(name));
            if name.parse::<Reference>().is_ok() && name.contains('/') {
                annotations.insert(IMAGE_NAME.into(), json!(name));
            }
        }
        self.update_index(|entries| {
            entries.retain(|e| named(e).is_none_or(|n| n.name != name));
            entries.push(value);
            Ok(())
        })
    }

    /// Lists `descriptor` in `index.json` without a name, unless it is listed already.
    pub fn add_unnamed(&self, descriptor: &Descriptor) -> Result<(), Error> {
        let value = serde_json::to_value(descriptor).map_err(|e| Error::Damaged {
            path: self.root.join(INDEX_JSON),
            problem: format!("cannot hold descriptor: {e}"),
        })?;
        let digest = descriptor.digest.to_string();
        self.update_index(|entries| {
            if !entries.iter().any(|e| e.get("digest").and_then(Value::as_str) == Some(digest.as_str())) {
                entries.push(value);
            }
            Ok(())
        })
    }

    /// Drops `name`; returns whether it was there. Blobs stay until [`Layout::gc`].
    pub fn untag(&self, name: &str) -> Result<bool, Error> {
        self.update_index(|entries| {
            let before = entries.len();
            entries.retain(|e| named(e).is_none_or(|n| n.name != name));
            Ok(entries.len() != before)
        })
    }

    /// Runs `change` on the entries of `index.json` under the layout's lock and writes the
    /// result back atomically; other top-level fields and unknown entry fields are kept.
    pub fn update_index<T>(&self, change: impl FnOnce(&mut Vec<Value>) -> Result<T, Error>) -> Result<T, Error> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let mut list = entries(&index);
        let result = change(&mut list)?;
        index.insert("manifests".into(), Value::Array(list));
        self.write_atomic(INDEX_JSON, &index_bytes(&index))?;
        Ok(result)
    }

    /// Holds the layout's exclusive lock until dropped (for `index.json` updates).
    pub fn lock(&self) -> Result<File, Error> {
        let file = self.lock_file("lock")?;
        file.lock().map_err(Error::io("locking", self.root.join(PRIVATE).join("lock")))?;
        Ok(file)
    }

    /// Held (shared) by every process that writes blobs until it has named what it wrote, so
    /// that [`Layout::collecting`] never removes a blob a running pull is about to name.
    pub fn writing(&self) -> Result<File, Error> {
        let file = self.lock_file("gc.lock")?;
        file.lock_shared().map_err(Error::io("locking", self.root.join(PRIVATE).join("gc.lock")))?;
        Ok(file)
    }

    /// Held (exclusive) by `gc` while it decides which blobs are unreferenced and removes them.
    pub fn collecting(&self) -> Result<File, Error> {
        let file = self.lock_file("gc.lock")?;
        file.lock().map_err(Error::io("locking", self.root.join(PRIVATE).join("gc.lock")))?;
        Ok(file)
    }

    fn lock_file(&self, name: &str) -> Result<File, Error> {
        let dir = self.root.join(PRIVATE);
        fs::create_dir_all(&dir).map_err(Error::io("creating", &dir))?;
        let path = dir.join(name);
        OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(Error::io("opening", &path))
    }

    /// Every blob file under `blobs/`, with its size.
    pub fn blobs(&self) -> Result<Vec<(Digest, u64)>, Error> {
        let mut found = Vec::new();
        let blobs = self.root.join("blobs");
        for alg in fs::read_dir(&blobs).map_err(Error::io("reading", &blobs))? {
            let alg = alg.map_err(Error::io("reading", &blobs))?;
            let Some(alg_name) = alg.file_name().to_str().map(str::to_owned) else { continue };
            for blob in fs::read_dir(alg.path()).map_err(Error::io("reading", alg.path()))? {
                let blob = blob.map_err(Error::io("reading", alg.path()))?;
                let Some(hex) = blob.file_name().to_str().map(str::to_owned) else { continue };
                if let Ok(digest) = format!("{alg_name}:{hex}").parse::<Digest>() {
                    let size = blob.metadata().map(|m| m.len()).unwrap_or(0);
                    found.push((digest, size));
                }
            }
        }
        Ok(found)
    }

    /// Removes `digest`'s blob file (for `gc`).
    pub fn remove_blob(&self, digest: &Digest) -> Result<(), Error> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("removing", &path)(e)),
            _ => Ok(()),
        }
    }

    fn read_index(&self) -> Result<Map<String, Value>, Error> {
        let path = self.root.join(INDEX_JSON);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(empty_index()),
            Err(e) => return Err(Error::io("reading", &path)(e)),
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Error::Damaged { path, problem: "is not a JSON object".into() }),
            Err(e) => Err(Error::Damaged { path, problem: format!("is not valid JSON: {e}") }),
        }
    }

    /// The private temp directory (same file system as `blobs/`, so renames are atomic).
    fn temp_dir(&self) -> Result<PathBuf, Error> {
        let tmp = self.root.join(PRIVATE).join("tmp");
        fs::create_dir_all(&tmp).map_err(Error::io("creating", &tmp))?;
        Ok(tmp)
    }

    /// Writes `bytes` to `name` in the layout's root through a temp file and a rename.
    fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        let tmp = self.temp_dir()?;
        let path = self.root.join(name);
        let mut file = tempfile::NamedTempFile::new_in(&tmp).map_err(Error::io("creating a temp file in", &tmp))?;
        file.write_all(bytes).map_err(Error::io("writing", &path))?;
        readable(file.as_file()).map_err(Error::io("writing", &path))?;
        file.as_file().sync_all().map_err(Error::io("writing", &path))?;
        file.persist(&path).map_err(|e| Error::io("replacing", &path)(e.error))?;
        Ok(())
    }
}

fn empty_index() -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("schemaVersion".into(), json!(2));
    map.insert("mediaType".into(), json!(layerize_core::MediaType::OciIndex.as_str()));
    map.insert("manifests".into(), json!([]));
    map
}

fn index_bytes(index: &Map<String, Value>) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(index).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn entries(index: &Map<String, Value>) -> Vec<Value> {
    index.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default()
}

/// The name an `index.json` entry carries: the OCI ref name (a full reference in the store;
/// a bare tag in layouts other tools write), else containerd's image name.
fn named(entry: &Value) -> Option<Named> {
    let descriptor: Descriptor = serde_json::from_value(entry.clone()).ok()?;
    let name = descriptor.annotations.get(REF_NAME).or_else(|| descriptor.annotations.get(IMAGE_NAME))?.clone();
    Some(Named { name, descriptor })
}

#[cfg(test)]
mod tests {
    use layerize_core::MediaType;

    use super::*;

    #[test]
    fn blobs_are_checked_before_they_land() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::open_or_create(&dir.path().join("store")).expect("create");
        let digest = layout.put_blob(b"hello").expect("put");
        assert_eq!(fs::read(layout.blob_path(&digest)).expect("read"), b"hello");
        assert_eq!(layout.read_blob(&digest, 10).expect("read"), b"hello");

        let mut wrong = layout.blob_writer(&Digest::sha256(b"other")).expect("writer");
        wrong.write_all(b"not other").expect("write");
        let err = wrong.commit().expect_err("mismatch").to_string();
        assert!(err.contains("sha256:"), "{err}");
        assert!(!layout.blob_path(&Digest::sha256(b"other")).exists());
        assert_eq!(fs::read_dir(dir.path().join("store/.layerize/tmp")).expect("tmp").count(), 0);
        use std::os::unix::fs::PermissionsExt;
        for path in [layout.blob_path(&digest), dir.path().join("store/index.json")] {
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "{}", path.display());
        }
    }

    #[test]
    fn names_replace_and_keep_unknown_fields() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("store");
        let layout = Layout::open_or_create(&root).expect("create");
        layout
            .update_index(|entries| {
                entries.push(json!({"mediaType": MediaType::OciManifest.as_str(), "digest": Digest::sha256(b"x").to_string(), "size": 1, "x-extra": true}));
                Ok(())
            })
            .expect("extra");
        let a = Descriptor::new(MediaType::OciManifest, Digest::sha256(b"a"), 1);
        let b = Descriptor::new(MediaType::OciManifest, Digest::sha256(b"b"), 1);
        layout.tag("127.0.0.1:5000/app:1", &a).expect("tag");
        layout.tag("127.0.0.1:5000/app:1", &b).expect("retag");
        let names = layout.names().expect("names");
        assert_eq!(names.len(), 1);
        assert_eq!(names[0].descriptor.digest, b.digest);
        let text = fs::read_to_string(root.join("index.json")).expect("index");
        assert!(text.contains("x-extra"), "{text}");
        assert!(text.contains(IMAGE_NAME), "{text}");
        assert!(layout.untag("127.0.0.1:5000/app:1").expect("untag"));
        assert!(!layout.untag("127.0.0.1:5000/app:1").expect("untag"));
        assert_eq!(layout.entries().expect("entries").len(), 1);
    }

    #[test]
    fn a_directory_that_is_not_a_layout_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("file"), b"x").expect("write");
        let err = Layout::open_or_create(dir.path()).expect_err("not empty").to_string();
        assert!(err.contains("not empty"), "{err}");
        let err = Layout::open(dir.path()).expect_err("no marker").to_string();
        assert!(err.contains("oci-layout"), "{err}");
    }
}
