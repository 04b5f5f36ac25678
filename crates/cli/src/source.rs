//! Opening what an [`ImageArg`] names as one [`ImageSource`], so that every command reads the
//! store, an OCI layout and a registry through the same copy and plan.

use anyhow::{bail, Context, Result};
use layerize_core::descriptor::Descriptor;
use layerize_core::Platform;
use layerize_registry::copy::{self, ImageSource, Plan, Platforms, Repository};
use layerize_registry::transport::native::Native;
use layerize_registry::{BodyStream, Client, Error, FetchedManifest};
use layerize_store::layout::Layout;

use crate::archive_image::ArchiveSource;
use crate::image_arg::ImageArg;
use crate::remote::Access;
use crate::resolve::host_platform;
use crate::store::StoreFlag;

/// Any source a command reads images from.
#[derive(Debug)]
pub enum Source<'a> {
    Layout(Layout),
    Registry(Repository<'a, Native>),
    Archive(ArchiveSource),
    /// No image at all: the `scratch` base, whose every document is made here.
    Nothing,
}

impl ImageSource for Source<'_> {
    fn describe(&self) -> String {
        match self {
            Source::Layout(l) => l.describe(),
            Source::Registry(r) => r.describe(),
            Source::Archive(a) => a.describe(),
            Source::Nothing => "scratch".to_owned(),
        }
    }

    async fn manifest(&self, selector: &str) -> Result<FetchedManifest, Error> {
        match self {
            Source::Layout(l) => l.manifest(selector).await,
            Source::Registry(r) => r.manifest(selector).await,
            Source::Archive(a) => a.manifest(selector).await,
            Source::Nothing => Err(nothing(selector)),
        }
    }

    async fn blob(&self, descriptor: &Descriptor) -> Result<BodyStream, Error> {
        match self {
            Source::Layout(l) => ImageSource::blob(l, descriptor).await,
            Source::Registry(r) => ImageSource::blob(r, descriptor).await,
            Source::Archive(a) => ImageSource::blob(a, descriptor).await,
            Source::Nothing => Err(nothing(descriptor.digest.as_str())),
        }
    }

    async fn blob_from(&self, descriptor: &Descriptor, offset: u64) -> Result<BodyStream, Error> {
        match self {
            Source::Registry(r) => r.blob_from(descriptor, offset).await,
            Source::Layout(l) => l.blob_from(descriptor, offset).await,
            Source::Archive(a) => a.blob_from(descriptor, offset).await,
            Source::Nothing => Err(nothing(descriptor.digest.as_str())),
        }
    }

    fn repository_on(&self, registry: &str) -> Option<&str> {
        match self {
            Source::Layout(_) | Source::Archive(_) | Source::Nothing => None,
            Source::Registry(r) => r.repository_on(registry),
        }
    }

    async fn check_unread(&self, descriptor: &Descriptor) -> Result<(), Error> {
        match self {
            Source::Archive(a) => a.check_unread(descriptor).await,
            Source::Layout(_) | Source::Registry(_) | Source::Nothing => Ok(()),
        }
    }
}

fn nothing(what: &str) -> Error {
    Error::NotFound { registry: "scratch".into(), what: what.to_owned(), detail: Some("scratch holds nothing".into()) }
}

/// A registry client for `arg`, if it names a registry (made first: the source borrows it).
pub fn client_for(arg: &ImageArg, access: &Access) -> Result<Option<Client<Native>>> {
    match arg {
        ImageArg::Registry(reference) => Ok(Some(access.client(reference)?)),
        _ => Ok(None),
    }
}

/// The source `arg` names and the selector of its image there (a name, tag or digest).
/// `platforms` chooses the image of an archive that holds only part of an index.
pub fn open<'a>(
    arg: &ImageArg,
    store: &StoreFlag,
    client: Option<&'a Client<Native>>,
    platforms: &Platforms,
) -> Result<(Source<'a>, String)> {
    match arg {
        ImageArg::Stored(name) => {
            let dir = store.dir()?;
            let layout = Layout::open(&dir).with_context(|| format!("opening the store {}", dir.display()))?;
            Ok((Source::Layout(layout), name.clone()))
        }
        ImageArg::Oci { dir, name } => {
            let layout = Layout::open(dir)?;
            let name = match name {
                Some(name) => name.clone(),
                None => {
                    let entries = layout.entries()?;
                    match entries.as_slice() {
                        [only] => only.digest.to_string(),
                        [] => bail!("the OCI layout {} holds no image", dir.display()),
                        _ => bail!(
                            "the OCI layout {} holds {} images: name one (oci:{}:NAME)",
                            dir.display(),
                            entries.len(),
                            dir.display()
                        ),
                    }
                }
            };
            Ok((Source::Layout(layout), name))
        }
        ImageArg::Registry(reference) => {
            let Some(client) = client else { bail!("no registry client for {reference}") };
            let repository = Repository { client, name: reference.repository().to_owned() };
            Ok((Source::Registry(repository), reference.selector().to_owned()))
        }
        ImageArg::Archive { path, name } => {
            let (platform, given) = match platforms {
                Platforms::One { platform, strict } => (platform.clone(), *strict),
                Platforms::All => (host_platform(), false),
            };
            let archive = ArchiveSource::open(path, &platform, given)?;
            let selector = archive.selector(name.as_deref())?;
            Ok((Source::Archive(archive), selector))
        }
    }
}

/// `--platform` / `--all-platforms` as a copy's choice: the host's image of an index unless
/// another platform is asked for (then a single image must be for it), or everything.
pub fn platforms(platform: Option<&str>, all: bool) -> Result<Platforms> {
    if all {
        return Ok(Platforms::All);
    }
    Ok(match platform {
        Some(p) => Platforms::One { platform: p.parse::<Platform>()?, strict: true },
        None => Platforms::One { platform: host_platform(), strict: false },
    })
}

/// Reads the plan of `selector` at `source`, naming the image in errors.
pub async fn plan(source: &Source<'_>, selector: &str, platforms: &Platforms) -> Result<Plan> {
    copy::plan(source, selector, platforms).await.with_context(|| format!("reading {}:{selector}", source.describe()))
}
