//! Temporary files beside an output (renamed into place when complete). A run killed before
//! its rename leaves its file behind, so each is named for the process that made it
//! (`.layerize-PID-XXXXXX.tmp`) and every run first removes those of processes that are gone.

use std::path::Path;

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

const PREFIX: &str = ".layerize-";
const SUFFIX: &str = ".tmp";

/// A new temporary file in `dir`, after sweeping `dir` of files that dead runs left there.
pub fn create_in(dir: &Path) -> Result<NamedTempFile> {
    sweep(dir);
    tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}-", std::process::id()))
        .suffix(SUFFIX)
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))
}

/// Removes `dir`'s temporary files whose process no longer runs. Best effort: a file that
/// cannot be listed or removed is left for the next run.
pub fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner) else { continue };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The PID in a name this module gives, if it is one.
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (pid, random) = rest.split_once('-')?;
    (!random.is_empty()).then_some(())?;
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_of_dead_processes_go_and_others_stay() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // PIDs above the kernel's pid_max (4194304 at most) never run.
        let dead = dir.path().join(".layerize-4999999-abc123.tmp");
        let alive = dir.path().join(format!(".layerize-{}-abc123.tmp", std::process::id()));
        let other = dir.path().join("out.tar");
        for path in [&dead, &alive, &other] {
            std::fs::write(path, b"x").unwrap_or_else(|e| panic!("{e}"));
        }
        let made = create_in(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!dead.exists());
        assert!(alive.exists() && other.exists() && made.path().exists());
        assert_eq!(owner(&made.path().file_name().unwrap_or_default().to_string_lossy()), Some(std::process::id()));
        assert_eq!(owner(".layerize-abc123.tmp"), None);
    }
}
