//! `layerize append`: files → a new layer on top of a base image → pushed to a registry.
//!
//! Order of work: everything that can fail on bad input (files, references, platform, base
//! manifest type) fails before anything is pushed; blobs are all in place before the first
//! manifest is put, and an index is put only after every manifest it names.

use std::io::Read;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use layerize_core::config::{Config, History};
use layerize_core::descriptor::Descriptor;
use layerize_core::layer::{LayerDigests, LayerOptions};
use layerize_core::manifest::{ImageManifest, Manifest};
use layerize_core::mutate::{self, NewLayer};
use layerize_core::{Digest, Platform, Reference};
use layerize_registry::transport::native::Native;
use layerize_registry::{BlobOutcome, Client, Credentials};

use crate::blob_source::{FileBlob, MemoryBlob, RemoteBlob};
use crate::files::{self, FileArg};
use crate::layer_file;
use crate::progress::Progress;
use crate::remote::Access;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The base image, e.g. 127.0.0.1:5000/base:1 or alpine:3.20.
    base: String,
    /// A file or directory to add, and where: SRC[:DEST] (repeatable).
    #[arg(short = 'f', long = "file", value_name = "SRC[:DEST]")]
    files: Vec<FileArg>,
    /// A path to delete from the base (written as a whiteout; repeatable).
    #[arg(long = "delete", value_name = "PATH")]
    deletes: Vec<String>,
    /// Where to push the result.
    #[arg(short = 't', long = "tag", value_name = "REF")]
    target: String,
    /// The platform to take from a multi-platform base (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", conflicts_with = "all_platforms")]
    platform: Option<String>,
    /// Append to every image of a multi-platform base and push a new index.
    #[arg(long)]
    all_platforms: bool,
    /// The new config's `created` time, RFC 3339 (default: now).
    #[arg(long, value_name = "TIME")]
    created: Option<String>,
    /// The `created_by` text of the new history entry (default: this command line).
    #[arg(long, value_name = "TEXT")]
    history: Option<String>,
    /// Modification time of every entry in the layer, in seconds since 1970.
    #[arg(long, default_value_t = 0)]
    mtime: u64,
    /// Use plain HTTP for the registries (loopback registries always use it).
    #[arg(long)]
    insecure: bool,
    /// Username for the target registry (and the base's, if the same).
    #[arg(long, requires = "password_stdin")]
    username: Option<String>,
    /// Read the password for --username from standard input.
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// No progress on stderr.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<()> {
    let progress = Progress { quiet: args.quiet };
    let base: Reference = args.base.parse()?;
    let target: Reference = args.target.parse()?;
    let platform: Option<Platform> = args.platform.as_deref().map(str::parse).transpose()?;
    let created = created_time(args.created.as_deref())?;
    let history = args.history.clone().unwrap_or_else(|| describe(&args));
    let explicit = match (&args.username, args.password_stdin) {
        (Some(username), true) => Some(Credentials::Basic { username: username.clone(), password: read_password()? }),
        _ => None,
    };
    let access = Access { insecure: args.insecure, explicit, explicit_for: vec![target.registry().to_owned()] };

    let plan = files::plan(&args.files, &args.deletes)?;
    progress.step(format!("building layer from {} bytes of files", plan.content_size()));
    let (digests, layer) = layer_file::build(plan, &LayerOptions { mtime: args.mtime }, &std::env::temp_dir())?;
    progress.step(format!("layer {} ({} bytes, diffID {})", digests.digest, digests.size, digests.diff_id));

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let job = Job {
        base,
        target,
        platform,
        all_platforms: args.all_platforms,
        created,
        layer: NewLayer { digests: digests.clone(), history: History { created: None, created_by: Some(history), ..Default::default() } },
        layer_path: layer.path().to_owned(),
        progress,
    };
    let pushed = runtime.block_on(job.run(&access))?;
    println!("{pushed}");
    Ok(())
}

struct Job {
    base: Reference,
    target: Reference,
    platform: Option<Platform>,
    all_platforms: bool,
    created: String,
    layer: NewLayer,
    layer_path: PathBuf,
    progress: Progress,
}

impl Job {
    async fn run(mut self, access: &Access) -> Result<Reference> {
        self.layer.history.created = Some(self.created.clone());
        let source = access.client(&self.base)?;
        let dest = access.client(&self.target)?;
        let fetched = source.manifest_for(&self.base).await.with_context(|| format!("reading base image {}", self.base))?;
        let manifest = Manifest::parse(&self.base.to_string(), fetched.raw, fetched.content_type.as_deref())?;
        let tag = self.target.tag().unwrap_or("latest").to_owned();

        let images: Vec<ImageManifest> = match &manifest {
            Manifest::Image(m) => {
                if let Some(p) = &self.platform {
                    self.check_platform(&source, m, p).await?;
                }
                vec![m.clone()]
            }
            Manifest::Index(index) if self.all_platforms => {
                let mut all = Vec::new();
                for entry in index.manifests.iter().filter(|d| !d.is_attestation()) {
                    all.push(self.fetch_image(&source, &entry.digest).await?);
                }
                if all.is_empty() {
                    bail!("{} is an index with no images in it", self.base);
                }
                all
            }
            Manifest::Index(index) => {
                let wanted = self.platform.clone().unwrap_or_else(|| Platform::from_rust("linux", std::env::consts::ARCH));
                let entry = wanted.select(&index.manifests).with_context(|| format!("choosing a platform from {}", self.base))?;
                self.progress.step(format!("platform {wanted}: {}", entry.digest));
                vec![self.fetch_image(&source, &entry.digest).await?]
            }
        };

        // Compute everything before pushing anything.
        let mut appended = Vec::new();
        for image in &images {
            let config_raw = source
                .blob_bytes(self.base.repository(), &image.config.digest)
                .await
                .with_context(|| format!("reading the config of {}", self.base))?;
            let config = Config::parse(&image.config.digest.to_string(), config_raw)?;
            let result = mutate::append(image, &config, std::slice::from_ref(&self.layer), Some(&self.created))?;
            appended.push((image, result));
        }

        let mount_from = (self.base.registry() == self.target.registry()).then(|| self.base.repository().to_owned());
        let repo = self.target.repository().to_owned();
        let mut new_layer_pushed = false;
        for (image, result) in &appended {
            for layer in &image.layers {
                if !layer.urls.is_empty() {
                    continue; // foreign layers stay where their URLs say
                }
                let from = RemoteBlob { client: &source, repository: self.base.repository().to_owned(), digest: layer.digest.clone() };
                let outcome = dest.push_blob(&repo, &layer.digest, mount_from.as_deref(), from, &mut |_| {}).await?;
                self.report(&layer.digest, outcome);
            }
            if !new_layer_pushed {
                let digests: &LayerDigests = &self.layer.digests;
                let outcome = dest.push_blob(&repo, &digests.digest, None, FileBlob(self.layer_path.clone()), &mut |_| {}).await?;
                self.report(&digests.digest, outcome);
                new_layer_pushed = true;
            }
            let config = MemoryBlob(Bytes::from(result.config.clone()));
            let outcome = dest.push_blob(&repo, &result.config_descriptor.digest, None, config, &mut |_| {}).await?;
            self.report(&result.config_descriptor.digest, outcome);
        }

        let pushed = match &manifest {
            Manifest::Index(index) if self.all_platforms => {
                let mut replaced: Vec<(Digest, Descriptor)> = Vec::new();
                for (image, result) in &appended {
                    let d = &result.manifest_descriptor;
                    dest.put_manifest(&repo, d.digest.as_str(), &result.manifest, &d.media_type).await?;
                    replaced.push((image.digest().clone(), d.clone()));
                }
                let (bytes, descriptor) = mutate::replace_in_index(index, &replaced)?;
                dest.put_manifest(&repo, &tag, &bytes, &descriptor.media_type).await?
            }
            _ => {
                let (_, result) = &appended[0];
                dest.put_manifest(&repo, &tag, &result.manifest, &result.manifest_descriptor.media_type).await?
            }
        };
        Ok(self.target.with_digest(pushed))
    }

    async fn fetch_image(&self, client: &Client<Native>, digest: &Digest) -> Result<ImageManifest> {
        let fetched = client.manifest(self.base.repository(), digest.as_str()).await?;
        let what = format!("{}@{digest}", self.base.name());
        match Manifest::parse(&what, fetched.raw, fetched.content_type.as_deref())? {
            Manifest::Image(m) => Ok(m),
            Manifest::Index(_) => bail!("{what} is an index inside an index, which is not supported"),
        }
    }

    async fn check_platform(&self, client: &Client<Native>, m: &ImageManifest, wanted: &Platform) -> Result<()> {
        let raw = client.blob_bytes(self.base.repository(), &m.config.digest).await?;
        let have = Config::parse(&m.config.digest.to_string(), raw)?.platform();
        if !wanted.matches(&have) {
            bail!("{} is a single-platform image for {have}, not {wanted}", self.base);
        }
        Ok(())
    }

    fn report(&self, digest: &Digest, outcome: BlobOutcome) {
        let what = match outcome {
            BlobOutcome::AlreadyThere => "already there",
            BlobOutcome::Mounted => "mounted",
            BlobOutcome::Uploaded => "uploaded",
        };
        self.progress.step(format!("blob {digest}: {what}"));
    }
}

fn read_password() -> Result<String> {
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password).context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("--password-stdin: standard input was empty");
    }
    Ok(password)
}

/// The `created` timestamp: the given one, checked and normalised, or now.
fn created_time(given: Option<&str>) -> Result<String> {
    let time = match given {
        Some(t) => humantime::parse_rfc3339_weak(t).with_context(|| format!("--created {t:?} is not an RFC 3339 time like 2024-01-31T12:00:00Z"))?,
        None => SystemTime::now(),
    };
    Ok(humantime::format_rfc3339_seconds(time).to_string())
}

/// The default history text: what was added and deleted.
fn describe(args: &Args) -> String {
    let mut parts = vec!["layerize append".to_owned()];
    parts.extend(args.files.iter().map(|f| format!("-f {}:{}", f.src.display(), f.dest)));
    parts.extend(args.deletes.iter().map(|d| format!("--delete {d}")));
    parts.join(" ")
}
