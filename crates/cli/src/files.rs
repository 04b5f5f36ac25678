//! Turning `-f SRC[:DEST]` and `--delete PATH` arguments into a layer plan, walking
//! directories. Modes are normalised (0755 if any executable bit is set, else 0644; dirs
//! 0755) so a checkout gives the same digest whatever the umask; `--chmod DEST=MODE` then
//! sets a destination's mode whatever the disk says.

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

/// One `--chmod DEST=MODE` argument: the octal mode a file or directory of the layer gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChmodArg {
    pub dest: String,
    pub mode: u32,
}

impl std::str::FromStr for ChmodArg {
    type Err = String;

    /// `DEST=MODE`, split at the last `=`; MODE is octal (`755`, `0644`), at most `7777`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (dest, mode) =
            s.rsplit_once('=').ok_or_else(|| format!("{s:?}: expected DEST=MODE, as in /app/run=0755"))?;
        if dest.is_empty() {
            return Err(format!("{s:?}: the destination before `=` is empty"));
        }
        let mode = u32::from_str_radix(mode, 8)
            .ok()
            .filter(|m| *m <= 0o7777 && !mode.is_empty())
            .ok_or_else(|| format!("{s:?}: {mode:?} is not an octal mode (0644, 0755, …)"))?;
        Ok(ChmodArg { dest: dest.to_owned(), mode })
    }
}

/// Sets the modes `--chmod` gives; each destination must be a file or directory in `plan`.
pub fn chmod(plan: &mut Plan<PathBuf>, chmods: &[ChmodArg]) -> Result<()> {
    for c in chmods {
        plan.set_mode(&LayerPath::new(&c.dest)?, c.mode)
            .with_context(|| format!("--chmod {}={:04o}", c.dest, c.mode))?;
    }
    Ok(())
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
    fn parses_chmod_args() {
        let c: ChmodArg = "/opt/run.sh=0755".parse().unwrap();
        assert_eq!((c.dest.as_str(), c.mode), ("/opt/run.sh", 0o755));
        assert_eq!("/a=b=644".parse::<ChmodArg>().unwrap(), ChmodArg { dest: "/a=b".into(), mode: 0o644 });
        for bad in ["/x", "=0755", "/x=", "/x=0999", "/x=17777", "/x=rwx"] {
            assert!(bad.parse::<ChmodArg>().is_err(), "{bad}");
        }
    }

    #[test]
    fn chmod_sets_a_planned_mode_and_names_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.sh");
        fs::write(&file, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
        let mut p = plan(&[format!("{}:/bin/run.sh", file.display()).parse().unwrap()], &[]).unwrap();
        chmod(&mut p, &["/bin/run.sh=0644".parse().unwrap()]).unwrap();
        let modes: Vec<_> = p
            .into_entries()
            .into_iter()
            .filter_map(|e| match e.kind {
                EntryKind::File { mode, .. } => Some(mode),
                _ => None,
            })
            .collect();
        assert_eq!(modes, [0o644]);
        let mut p = plan(&[format!("{}:/bin/run.sh", file.display()).parse().unwrap()], &[]).unwrap();
        let e = chmod(&mut p, &["/bin/other=0755".parse().unwrap()]).unwrap_err();
        assert!(format!("{e:#}").contains("/bin/other is not in the layer"), "{e:#}");
    }

    #[test]
    fn missing_source_names_it() {
        let e = plan(&["/no/such/file:/x".parse().unwrap()], &[]).unwrap_err();
        assert!(format!("{e:#}").contains("/no/such/file"), "{e:#}");
    }
}
