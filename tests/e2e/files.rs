//! The files tests put into layers.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// An app directory and a script, as in the README's example.
pub struct AppFiles {
    pub dir: tempfile::TempDir,
}

pub const HELLO: &str = "hello from the new layer\n";
pub const SCRIPT: &str = "#!/bin/sh\necho run.sh ran\n";

impl AppFiles {
    pub fn new() -> AppFiles {
        let dir = tempfile::tempdir().expect("temp dir");
        let app = dir.path().join("app");
        fs::create_dir_all(app.join("conf")).expect("mkdir");
        fs::write(app.join("hello.txt"), HELLO).expect("write");
        fs::write(app.join("conf/settings.ini"), "[main]\nanswer = 42\n").expect("write");
        std::os::unix::fs::symlink("hello.txt", app.join("greeting")).expect("symlink");
        let script = dir.path().join("run.sh");
        fs::write(&script, SCRIPT).expect("write");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        AppFiles { dir }
    }

    pub fn app(&self) -> PathBuf {
        self.dir.path().join("app")
    }

    pub fn script(&self) -> PathBuf {
        self.dir.path().join("run.sh")
    }

    /// The `-f` arguments of the README example.
    pub fn args(&self) -> Vec<String> {
        vec![
            "-f".into(),
            format!("{}:/opt/app", self.app().display()),
            "-f".into(),
            format!("{}:/usr/local/bin/run.sh", self.script().display()),
        ]
    }
}

pub fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).expect("stat").permissions().mode() & 0o7777
}
