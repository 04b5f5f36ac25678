//! `layerize append`: files → a new layer on top of a base image → pushed to a registry,
//! written as an archive with `-o`, or kept in the store (`--store`, `-t` naming no registry).
//!
//! The base is anything an IMAGE argument names (a store name, a registry reference,
//! `oci:DIR[:NAME]`, `docker-archive:FILE`, `oci-archive:FILE`, or the path of an existing file),
//! or `scratch`, an empty image of the chosen platform ([`base`] resolves it). Everything that can
//! fail on bad input (files as listed, references, platform, base manifest type) fails before
//! anything is pushed; a file that changes while it is read fails the upload under way, before
//! any manifest. To a registry ([`registry`]) the new layer is built while it uploads; kept
//! locally ([`local`]) it is built into a file first. Both write through the one copy
//! (`layerize_registry::copy`): the appended image is an overlay over its base.

mod base;
mod local;
mod registry;

use local::LocalJob;
use registry::{LayerToBuild, RegistryJob};

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use layerize_core::config::{ConfigChanges, History};
use layerize_core::layer::gzip::Profile;
use layerize_core::layer::LayerOptions;
use layerize_core::mutate::NewLayer;
use layerize_core::{Platform, Reference};
use layerize_registry::copy::Platforms;
use layerize_registry::Credentials;

use crate::files::{self, FileArg};
use crate::image_arg::ImageArg;
use crate::layer_file;
use crate::progress::ProgressFlags;
use crate::remote::{read_password, Access};
use crate::resolve;
use crate::sink::Sink;
use crate::source::{self, Source};
use crate::store::StoreFlag;

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
    /// Tries of a request or a blob transfer that fails for a passing reason, with backoff
    /// between them (the new layer, built while it uploads, cannot be sent twice).
    #[arg(long, value_name = "N", default_value_t = layerize_registry::transport::native::DEFAULT_TRIES, env = "LAYERIZE_RETRIES")]
    retries: u32,
    #[command(flatten)]
    progress: ProgressFlags,
}

/// Where the base image comes from.
#[derive(Debug)]
enum Base {
    /// No base: the empty image of [`resolve::scratch`].
    Scratch,
    Image(ImageArg),
}

impl Base {
    fn parse(input: &str, store: &StoreFlag) -> Result<Base> {
        if input == resolve::SCRATCH {
            return Ok(Base::Scratch);
        }
        // The path of an existing file is an archive, as `docker load -i` takes one.
        if let Some(arg) = ImageArg::transport(input)? {
            return Ok(Base::Image(arg));
        }
        if Path::new(input).is_file() {
            return Ok(Base::Image(ImageArg::Archive { path: PathBuf::from(input), name: None }));
        }
        Ok(Base::Image(ImageArg::parse(input, store)?))
    }

    fn registry(&self) -> Option<&str> {
        match self {
            Base::Image(ImageArg::Registry(r)) => Some(r.registry()),
            _ => None,
        }
    }
}

/// Where the result goes.
#[derive(Debug)]
enum Target {
    Registry(Reference),
    /// The local store, under this name (`--store` with a `-t` that names no registry).
    Store(String),
    /// An archive (`-o`), the image named inside it by `-t` if given.
    Archive {
        path: PathBuf,
        name: Option<Reference>,
    },
}

impl Target {
    fn parse(target: Option<&str>, output: Option<&Path>, store: &StoreFlag) -> Result<Target> {
        if let Some(path) = output {
            let name = target.map(str::parse).transpose()?;
            return Ok(Target::Archive { path: path.to_owned(), name });
        }
        let Some(target) = target else { bail!("nothing to do: give -t to push or -o to write an archive") };
        if store.store.is_some() {
            if let ImageArg::Stored(name) = ImageArg::parse_destination(target)? {
                return Ok(Target::Store(name));
            }
        }
        Ok(Target::Registry(target.parse()?))
    }
}

pub fn run(args: Args, store: StoreFlag) -> Result<()> {
    let progress = args.progress.start();
    let base = Base::parse(&args.base, &store)?;
    let target = Target::parse(args.target.as_deref(), args.output.as_deref(), &store)?;
    let platform: Option<Platform> = args.platform.as_deref().map(str::parse).transpose()?;
    let created = created_time(args.created.as_deref())?;
    let created_by = args.history.clone().unwrap_or_else(|| describe(&args));
    let explicit = match (&args.username, args.password_stdin) {
        (Some(username), true) => Some(Credentials::Basic { username: username.clone(), password: read_password()? }),
        _ => None,
    };
    let explicit_for: Vec<String> = match &target {
        Target::Registry(t) => vec![t.registry().to_owned()],
        _ => base.registry().map(str::to_owned).into_iter().collect(),
    };
    let access = Access {
        insecure: args.insecure,
        explicit,
        explicit_for,
        idle_timeout: args.timeout,
        tries: args.retries.max(1),
    };

    let mut plan = files::plan(&args.files, &args.deletes)?;
    files::chmod(&mut plan, &args.chmods)?;
    let options = LayerOptions { mtime: args.mtime, gzip: args.gzip_profile };
    let history = History {
        created: Some(created.clone()),
        created_by: Some(created_by),
        comment: args.gzip_profile.history_comment(),
        ..Default::default()
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

    let platforms = match (&platform, args.all_platforms) {
        (_, true) => Platforms::All,
        (Some(p), false) => Platforms::One { platform: p.clone(), strict: true },
        (None, false) => Platforms::One { platform: resolve::host_platform(), strict: false },
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(async {
        let base_client = match &base {
            Base::Image(arg) => source::client_for(arg, &access)?,
            Base::Scratch => None,
        };
        let (source, selector) = match &base {
            Base::Scratch => (Source::Nothing, String::new()),
            Base::Image(arg) => source::open(arg, &store, base_client.as_ref(), &platforms)?,
        };
        let all_platforms = args.all_platforms;
        let shown = match &base {
            Base::Image(ImageArg::Registry(r)) => r.to_string(),
            _ => args.base.clone(),
        };
        match target {
            // To a registry: the layer is built while it uploads.
            Target::Registry(target) => {
                let job = RegistryJob { target, platform, all_platforms, changes, progress };
                let pushed =
                    job.run(&access, &source, &selector, &shown, LayerToBuild { plan, options, history }).await?;
                Ok::<_, anyhow::Error>(pushed.to_string())
            }
            // Kept locally: the layer is built into a file first, since an archive lists its
            // blobs by digest before their bytes.
            target => {
                progress.step(format!("building layer from {} bytes of files", plan.content_size()));
                let (digests, layer) = layer_file::build(plan, &options, 0, &std::env::temp_dir())?;
                progress.step(format!("layer {} ({} bytes, diffID {})", digests.digest, digests.size, digests.diff_id));
                let new_layer = NewLayer { digests, history };
                let job = LocalJob { selector, shown, platform, all_platforms, changes, progress };
                let (sink, name, stored) = match &target {
                    Target::Store(name) => {
                        (Sink::Layout(store.open_or_create()?), Some(name.clone()), Some(name.clone()))
                    }
                    Target::Archive { path, name } => {
                        (Sink::archive(path, true)?, name.as_ref().map(Reference::to_string), None)
                    }
                    Target::Registry(_) => bail!("a registry target is pushed while the layer builds"),
                };
                let _writing = match &sink {
                    Sink::Layout(layout) => Some(layout.writing()?),
                    _ => None,
                };
                let digest = job.run(&source, new_layer, layer.path(), sink, name.as_deref()).await?;
                if let Target::Archive { path, .. } = &target {
                    progress.step(format!("wrote {}", path.display()));
                }
                Ok(match (&target, stored) {
                    (Target::Archive { name: Some(name), .. }, _) => name.with_digest(digest).to_string(),
                    (_, Some(name)) => format!("{name}@{digest}"),
                    _ => digest.to_string(),
                })
            }
        }
    })?;
    println!("{result}");
    Ok(())
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
        let none = StoreFlag { store: Some(PathBuf::from("/nonexistent/layerize-store")) };
        assert!(matches!(Base::parse("scratch", &none), Ok(Base::Scratch)));
        assert!(matches!(
            Base::parse("docker-archive:scratch", &none),
            Ok(Base::Image(ImageArg::Archive { path, .. })) if path == Path::new("scratch")
        ));
        match Base::parse("library/scratch:1", &none) {
            Ok(Base::Image(ImageArg::Registry(r))) => assert_eq!(r.repository(), "library/scratch"),
            other => panic!("{other:?}"),
        }
        assert_eq!(Base::Scratch.registry(), None);
    }
}
