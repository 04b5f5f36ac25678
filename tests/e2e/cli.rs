//! Running the `layerize` binary as a user would, and checking the shape of its output.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A finished `layerize` run.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    pub fn ok(self) -> String {
        assert!(self.status.success(), "layerize failed ({}):\n{}", self.status, self.stderr);
        assert!(!self.stderr.contains("panicked"), "layerize panicked:\n{}", self.stderr);
        self.stdout
    }

    /// Asserts a clean failure (exit 1, an `error:` line, no panic) and returns stderr.
    pub fn fails(self) -> String {
        assert_eq!(
            self.status.code(),
            Some(1),
            "expected failure, got {}:\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.starts_with("error: ") || self.stderr.contains("\nerror: "),
            "no error line:\n{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "layerize panicked:\n{}", self.stderr);
        assert!(self.stdout.is_empty(), "a failed run printed a result: {}", self.stdout);
        self.stderr
    }
}

/// Runs `layerize ARGS` with `stdin` and a private, empty Docker config (or `docker_config`).
pub fn layerize(args: &[&str], stdin: Option<&str>, docker_config: Option<&Path>) -> Run {
    let empty = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(layerize_tests::layerize());
    cmd.args(args)
        .env("DOCKER_CONFIG", docker_config.unwrap_or(empty.path()))
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn layerize");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    let Output { status, stdout, stderr } = child.wait_with_output().expect("wait layerize");
    Run {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Parses the single line `append` prints: `host/repo@sha256:…`.
pub fn pushed_digest(stdout: &str, expect_name: &str) -> String {
    let line = stdout.trim_end_matches('\n');
    assert!(!line.contains('\n'), "stdout must carry only the result, got {stdout:?}");
    let (name, digest) = line.split_once('@').unwrap_or_else(|| panic!("not a pinned reference: {line:?}"));
    assert_eq!(name, expect_name);
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "bad digest in {line:?}");
    digest.to_owned()
}
