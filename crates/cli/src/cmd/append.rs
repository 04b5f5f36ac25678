//! `layerize append`: files → a new layer on top of a base image → pushed to a registry, or
//! written as an archive with `-o`.
//!
//! The base is a registry reference, an archive (`docker-archive:FILE`, `oci-archive:FILE`,
//! or the path of an existing file), or `scratch`, an empty image of the chosen platform.
//! Everything that can fail on bad input (files, references, platform, base manifest type)
//! fails before anything is pushed; the push order of registry-to-registry appends lives in
//! `layerize_registry::publish`, the archive and scratch cases in [`archive`].

mod archive;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use layerize_core::config::{ConfigChanges, History};
use layerize_core::layer::gzip::Profile;
use layerize_core::layer::LayerOptions;
use layerize_core::manifest::{ImageManifest, Manifest};
use layerize_core::mutate::{self, NewLayer};
use layerize_core::{Platform, Reference};
use layerize_registry::publish::{self, Appendage, PublishEvent, Route};
use layerize_registry::{BlobOutcome, Credentials};

use crate::blob_source::Blob;
use crate::files::{self, FileArg};
use crate::layer_file;
use crate::progress::Progress;
use crate::remote::{read_password, Access};
use crate::resolve;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The base image: a reference (127.0.0.1:5000/base:1, alpine:3.20), an archive
    /// (docker-archive:FILE, oci-archive:FILE, or the path of an existing file), or `scratch`
    /// (an empty image for --platform, default this machine's).
    base: String,
    /// A file or directory to add, and where: SRC[:DEST] (repeatable).
    #[arg(short = 'f', long = "file", value_name = "SRC[:DEST]")]
    files: Vec<FileArg>,
    /// A path to delete from the base (written as a whiteout; repeatable).
    #[arg(long = "delete", value_name = "PATH")]
    deletes: Vec<String>,
    /// Give a file or directory of the layer this octal mode, whatever the disk says
    /// (DEST=MODE, e.g. /app/run=0755; repeatable).
    #[arg(long = "chmod", value_name = "DEST=MODE")]
    chmods: Vec<files::ChmodArg>,
    /// Where to push the result; with -o, the name the image gets inside the archive.
    #[arg(short = 't', long = "tag", value_name = "REF", required_unless_present = "output")]
    target: Option<String>,
    /// Write the result to an archive that docker load, podman load and skopeo read, instead
    /// of pushing it.
    #[arg(short = 'o', long = "output", value_name = "FILE", conflicts_with = "all_platforms")]
    output: Option<PathBuf>,
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
    /// Set an environment variable in the config (KEY=VALUE; repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Set the entrypoint: a JSON array (`["/app/run","-v"]`) or words split on spaces.
    #[arg(long, value_name = "COMMAND")]
    entrypoint: Option<String>,
    /// Set the default command: a JSON array or words split on spaces.
    #[arg(long, value_name = "COMMAND")]
    cmd: Option<String>,
    /// Set the working directory.
    #[arg(long, value_name = "DIR")]
    workdir: Option<String>,
    /// Set a label (KEY=VALUE; repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Set the user the container runs as: NAME, UID or UID:GID.
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Expose a port (PORT[/tcp|udp|sctp], tcp if not given; repeatable).
    #[arg(long = "expose", value_name = "PORT[/PROTO]")]
    expose: Vec<String>,
    /// Modification time of every entry in the layer, in seconds since 1970.
    #[arg(long, default_value_t = 0)]
    mtime: u64,
    /// The pinned gzip profile of the layer: 2 stores 1 MiB blocks that would not shrink, 1
    /// deflates every block (the digests of layers built before profile 2). The history
    /// entry's comment names profile 2 (`layerize gzip profile 2`).
    #[arg(long, value_name = "1|2", default_value = "2", value_parser = layer_file::parse_profile)]
    gzip_profile: Profile,
    /// Use plain HTTP for the registries (loopback registries always use it).
    #[arg(long)]
    insecure: bool,
    /// Username for the target registry (and the base's, if the same).
    #[arg(long, requires = "password_stdin")]
    username: Option<String>,
    /// Read the password for --username from standard input.
    #[arg(long, requires = "username")]
    password_stdin: bool,
    /// Give up on a registry that sends or takes nothing for this long (e.g. 90s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::remote::parse_timeout, env = "LAYERIZE_TIMEOUT")]
    timeout: std::time::Duration,
    /// No progress on stderr.
    #[arg(short, long)]
    quiet: bool,
}

/// Where the base image comes from.
#[derive(Debug)]
enum Base {
    Registry(Reference),
    Archive(PathBuf),
    /// No base: the empty image of [`resolve::scratch`].
    Scratch,
}

impl Base {
    fn parse(input: &str) -> Result<Base> {
        if input == resolve::SCRATCH {
            return Ok(Base::Scratch);
        }
        for prefix in ["docker-archive:", "oci-archive:"] {
            if let Some(path) = input.strip_prefix(prefix) {
                return Ok(Base::Archive(PathBuf::from(path)));
            }
        }
        if Path::new(input).is_file() {
            return Ok(Base::Archive(PathBuf::from(input)));
        }
        Ok(Base::Registry(input.parse()?))
    }

    fn registry(&self) -> Option<&str> {
        match self {
            Base::Registry(r) => Some(r.registry()),
            Base::Archive(_) | Base::Scratch => None,
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let progress = Progress { quiet: args.quiet };
    let base = Base::parse(&args.base)?;
    let target: Option<Reference> = args.target.as_deref().map(str::parse).transpose()?;
    let platform: Option<Platform> = args.platform.as_deref().map(str::parse).transpose()?;
    let created = created_time(args.created.as_deref())?;
    let created_by = args.history.clone().unwrap_or_else(|| describe(&args));
    let explicit = match (&args.username, args.password_stdin) {
        (Some(username), true) => Some(Credentials::Basic { username: username.clone(), password: read_password()? }),
        _ => None,
    };
    let explicit_for: Vec<String> = match (&target, &args.output) {
        (Some(t), None) => vec![t.registry().to_owned()],
        _ => base.registry().map(str::to_owned).into_iter().collect(),
    };
    let access = Access { insecure: args.insecure, explicit, explicit_for, idle_timeout: args.timeout };

    let mut plan = files::plan(&args.files, &args.deletes)?;
    files::chmod(&mut plan, &args.chmods)?;
    progress.step(format!("building layer from {} bytes of files", plan.content_size()));
    let (digests, layer) = layer_file::build(
        plan,
        &LayerOptions { mtime: args.mtime, gzip: args.gzip_profile },
        0,
        &std::env::temp_dir(),
    )?;
    progress.step(format!("layer {} ({} bytes, diffID {})", digests.digest, digests.size, digests.diff_id));
    let new_layer = NewLayer {
        digests,
        history: History {
            created: Some(created.clone()),
            created_by: Some(created_by),
            comment: args.gzip_profile.history_comment(),
            ..Default::default()
        },
    };

    let changes = ConfigChanges {
        created: Some(created),
        env: args.env.iter().map(|e| key_value("--env", e).map(|_| e.clone())).collect::<Result<_>>()?,
        entrypoint: args.entrypoint.as_deref().map(|c| command_words("--entrypoint", c)).transpose()?,
        cmd: args.cmd.as_deref().map(|c| command_words("--cmd", c)).transpose()?,
        working_dir: args.workdir.clone(),
        labels: args.labels.iter().map(|l| key_value("--label", l)).collect::<Result<_>>()?,
        user: args.user.clone(),
        exposed_ports: args
            .expose
            .iter()
            .map(|p| ConfigChanges::parse_port(p).map_err(|e| anyhow::anyhow!("--expose: {e}")))
            .collect::<Result<_>>()?,
    };

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = match (base, target, args.output) {
        (Base::Registry(base), Some(target), None) => {
            let job = Job { base, target, platform, all_platforms: args.all_platforms, changes, progress };
            runtime.block_on(job.run(&access, new_layer, Blob::File(layer.path().to_owned())))?.to_string()
        }
        (base, target, output) => {
            if args.all_platforms {
                bail!(
                    "--all-platforms works with a registry base pushed to a registry; an archive or scratch is one image"
                );
            }
            let job = archive::ArchiveJob { base, target, output, platform, changes, progress };
            runtime.block_on(job.run(&access, new_layer, layer.path()))?
        }
    };
    println!("{result}");
    Ok(())
}

struct Job {
    base: Reference,
    target: Reference,
    platform: Option<Platform>,
    all_platforms: bool,
    changes: ConfigChanges,
    progress: Progress,
}

impl Job {
    async fn run(self, access: &Access, new_layer: NewLayer, blob: Blob<'_>) -> Result<Reference> {
        let source = access.client(&self.base)?;
        let dest = access.client(&self.target)?;
        let repo = self.base.repository();
        let manifest = source.resolve(&self.base).await.with_context(|| format!("reading base image {}", self.base))?;

        let (images, index): (Vec<ImageManifest>, _) = match &manifest {
            Manifest::Image(m) => {
                if let Some(wanted) = &self.platform {
                    let have = source.config(repo, m).await?.platform();
                    if !wanted.matches(&have) {
                        bail!("{} is a single-platform image for {have}, not {wanted}", self.base);
                    }
                }
                (vec![m.clone()], None)
            }
            Manifest::Index(index) if self.all_platforms => {
                let mut all = Vec::new();
                for entry in index.manifests.iter().filter(|d| !d.is_attestation()) {
                    all.push(source.image_manifest(repo, &entry.digest).await?);
                }
                if all.is_empty() {
                    bail!("{} is an index with no images in it", self.base);
                }
                (all, Some(index))
            }
            Manifest::Index(index) => {
                let wanted = self.platform.clone().unwrap_or_else(resolve::host_platform);
                let entry = wanted
                    .select(&index.manifests)
                    .with_context(|| format!("choosing a platform from {}", self.base))?;
                self.progress.step(format!("platform {wanted}: {}", entry.digest));
                (vec![source.image_manifest(repo, &entry.digest).await?], None)
            }
        };

        // Compute every new config and manifest before pushing anything.
        let mut appended = Vec::new();
        for image in &images {
            let config =
                source.config(repo, image).await.with_context(|| format!("reading the config of {}", self.base))?;
            appended.push(mutate::append(image, &config, std::slice::from_ref(&new_layer), &self.changes)?);
        }
        let appendages: Vec<Appendage> =
            images.iter().zip(&appended).map(|(base, appended)| Appendage { base, appended }).collect();
        let route = Route {
            source: &source,
            source_repository: repo,
            dest: &dest,
            dest_repository: self.target.repository(),
            same_registry: self.base.registry() == self.target.registry(),
        };
        let tag = self.target.tag().unwrap_or("latest");
        let progress = self.progress;
        let mut on = |event: PublishEvent| match event {
            PublishEvent::Blob { digest, outcome } => {
                let what = match outcome {
                    BlobOutcome::AlreadyThere => "already there",
                    BlobOutcome::Mounted => "mounted",
                    BlobOutcome::Uploaded => "uploaded",
                };
                progress.step(format!("blob {digest}: {what}"));
            }
            PublishEvent::Manifest { digest } => progress.step(format!("manifest {digest}: pushed")),
            PublishEvent::Uploading { .. } => {}
        };
        let digest = publish::publish(&route, &appendages, index, blob, tag, &mut on).await?;
        Ok(self.target.with_digest(digest))
    }
}

fn key_value(flag: &str, s: &str) -> Result<(String, String)> {
    ConfigChanges::parse_key_value(s).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

fn command_words(flag: &str, s: &str) -> Result<Vec<String>> {
    ConfigChanges::parse_command(s).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

/// The `created` timestamp: the given one, checked and normalised, or now.
fn created_time(given: Option<&str>) -> Result<String> {
    let time = match given {
        Some(t) => humantime::parse_rfc3339_weak(t)
            .with_context(|| format!("--created {t:?} is not an RFC 3339 time like 2024-01-31T12:00:00Z"))?,
        None => SystemTime::now(),
    };
    Ok(humantime::format_rfc3339_seconds(time).to_string())
}

/// The default history text: what was added and deleted.
fn describe(args: &Args) -> String {
    let mut parts = vec!["layerize append".to_owned()];
    parts.extend(args.files.iter().map(|f| format!("-f {}:{}", f.src.display(), f.dest)));
    parts.extend(args.deletes.iter().map(|d| format!("--delete {d}")));
    parts.extend(args.chmods.iter().map(|c| format!("--chmod {}={:04o}", c.dest, c.mode)));
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_is_a_base_of_its_own() {
        assert!(matches!(Base::parse("scratch"), Ok(Base::Scratch)));
        assert!(matches!(Base::parse("docker-archive:scratch"), Ok(Base::Archive(p)) if p == Path::new("scratch")));
        match Base::parse("library/scratch:1") {
            Ok(Base::Registry(r)) => assert_eq!(r.repository(), "library/scratch"),
            other => panic!("{other:?}"),
        }
        assert_eq!(Base::Scratch.registry(), None);
    }
}
