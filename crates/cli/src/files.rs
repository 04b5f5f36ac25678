//! Turning `-f SRC[:DEST]` and `--delete PATH` arguments into a layer plan, walking
//! directories. Modes are normalised (0755 if any executable bit is set, else 0644; dirs
//! 0755) so a checkout gives the same digest whatever the umask.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use layerize_core::layer::{EntryKind, LayerPath, Plan, MODE_EXEC, MODE_FILE};

/// One `-f` argument: a local file or directory and where it goes in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileArg {
    pub src: PathBuf,
    pub dest: String,
}

impl std::str::FromStr for FileArg {
    type Err = String;

    /// `SRC:DEST` splits at the last `:` that is followed by `/`; without one, `SRC` goes to
    /// `/<its name>`, as `COPY src /src` would.
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(i) = s.rfind(":/") {
            let (src, dest) = (&s[..i], &s[i + 1..]);
            if src.is_empty() {
                return Err(format!("{s:?}: the source before `:` is empty"));
            }
            return Ok(FileArg { src: src.into(), dest: dest.to_owned() });
        }
        let src = PathBuf::from(s);
        let name = src
            .file_name()
            .ok_or_else(|| format!("{s:?}: give a destination, as in {s}:/path/in/image"))?
            .to_string_lossy()
            .into_owned();
        Ok(FileArg { src, dest: format!("/{name}") })
    }
}

/// Builds the plan for the given files and deletions.
pub fn plan(files: &[FileArg], deletes: &[String]) -> Result<Plan<PathBuf>> {
    let mut plan = Plan::new();
    for f in files {
        add(&mut plan, f).with_context(|| format!("adding {} as {}", f.src.display(), f.dest))?;
    }
    for d in deletes {
        let path = LayerPath::new(d)?;
        plan.add(path, EntryKind::Whiteout)?;
    }
    if plan.is_empty() {
        bail!("nothing to put in the layer: give at least one -f SRC[:DEST] or --delete PATH");
    }
    Ok(plan)
}

fn add(plan: &mut Plan<PathBuf>, f: &FileArg) -> Result<()> {
    // The top-level source is followed if it is a symlink, as `docker cp` and COPY do.
    let meta = fs::metadata(&f.src).with_context(|| format!("cannot read {}", f.src.display()))?;
    let root_dest = f.dest.trim_matches('/').is_empty();
    if meta.is_dir() {
        let base = if root_dest {
            None
        } else {
            let p = LayerPath::new(&f.dest)?;
            plan.add(p.clone(), EntryKind::Dir { mode: MODE_EXEC })?;
            Some(p)
        };
        walk(plan, &f.src, base.as_ref())
    } else if meta.is_file() {
        let dest = if f.dest.ends_with('/') {
            let name = f.src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            format!("{}{name}", f.dest)
        } else {
            f.dest.clone()
        };
        plan.add(LayerPath::new(&dest)?, file_kind(&f.src, &meta))?;
        Ok(())
    } else {
        bail!("{} is neither a regular file nor a directory", f.src.display())
    }
}

fn file_kind(path: &Path, meta: &fs::Metadata) -> EntryKind<PathBuf> {
    let mode = if meta.permissions().mode() & 0o111 != 0 { MODE_EXEC } else { MODE_FILE };
    EntryKind::File { mode, size: meta.len(), source: path.to_owned() }
}

fn walk(plan: &mut Plan<PathBuf>, dir: &Path, base: Option<&LayerPath>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            bail!("{}: file names must be valid UTF-8", path.display());
        };
        let dest = match base {
            Some(b) => b.join(name)?,
            None => LayerPath::new(name)?,
        };
        let meta = fs::symlink_metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = fs::read_link(&path).with_context(|| format!("cannot read link {}", path.display()))?;
            let Some(target) = target.to_str() else { bail!("{}: link target is not UTF-8", path.display()) };
            plan.add(dest, EntryKind::Symlink { target: target.to_owned() })?;
        } else if kind.is_dir() {
            plan.add(dest.clone(), EntryKind::Dir { mode: MODE_EXEC })?;
            walk(plan, &path, Some(&dest))?;
        } else if kind.is_file() {
            plan.add(dest, file_kind(&path, &meta))?;
        } else {
            bail!("{}: sockets, fifos and devices cannot go into a layer", path.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_args() {
        let f: FileArg = "./app:/opt/app".parse().unwrap();
        assert_eq!((f.src, f.dest.as_str()), (PathBuf::from("./app"), "/opt/app"));
        let f: FileArg = "c:d/x:/y".parse().unwrap();
        assert_eq!((f.src, f.dest.as_str()), (PathBuf::from("c:d/x"), "/y"));
        let f: FileArg = "dir/run.sh".parse().unwrap();
        assert_eq!(f.dest, "/run.sh");
        assert!(":/x".parse::<FileArg>().is_err());
    }

    #[test]
    fn missing_source_names_it() {
        let e = plan(&["/no/such/file:/x".parse().unwrap()], &[]).unwrap_err();
        assert!(format!("{e:#}").contains("/no/such/file"), "{e:#}");
    }
}
