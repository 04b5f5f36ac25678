//! The external command-line tools the harness drives: whether each is installed, and running one
//! so that a failure shows the command line, its exit status and what it printed.

use std::env;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Debian package that ships each tool, for the message when it is missing.
const PACKAGES: &[(&str, &str)] = &[
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("umoci", "umoci"),
    ("buildah", "buildah"),
    ("podman", "podman"),
    ("dockerd", "docker.io"),
    ("docker", "docker.io"),
    ("containerd", "containerd"),
    ("htpasswd", "apache2-utils"),
    ("openssl", "openssl"),
    ("busybox", "busybox-static"),
    ("kill", "procps"),
];

/// Flags whose value is a secret and is shown as `***` in failure messages.
const SECRET_FLAGS: &[&str] = &["--creds", "--src-creds", "--dest-creds", "--password", "-p"];

/// Finds `name` on `PATH`, as the shell would.
pub fn tool_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
}

/// Whether `name` is installed on `PATH`.
pub fn tool_available(name: &str) -> bool {
    tool_path(name).is_some()
}

/// Panics, naming the Debian package to install, unless `name` is on `PATH`.
///
/// Tests call this rather than skipping: a missing tool is a broken machine, not a pass.
pub fn require_tool(name: &str) {
    if tool_available(name) {
        return;
    }
    let package = PACKAGES.iter().find(|(tool, _)| *tool == name).map_or(name, |(_, package)| package);
    panic!("the tool `{name}` is not installed; install it with `apt-get install {package}`");
}

/// Runs `command` to completion with no standard input and returns its output; panics with the
/// command line (secrets hidden), status, stdout and stderr unless it succeeded.
pub fn run(command: &mut Command) -> Output {
    let shown = display(command);
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot start `{shown}`: {e}"));
    if !output.status.success() {
        panic!(
            "`{shown}` failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
    output
}

/// Like [`run`], returning stdout as text.
pub fn run_stdout(command: &mut Command) -> String {
    let output = run(command);
    String::from_utf8(output.stdout).unwrap_or_else(|e| panic!("`{}` printed non-UTF-8 output: {e}", display(command)))
}

/// The command line as a shell would show it, with the values of secret flags replaced.
pub fn display(command: &Command) -> String {
    let mut shown = vec![command.get_program().to_string_lossy().into_owned()];
    let mut hide_next = false;
    for arg in command.get_args() {
        let arg = arg.to_string_lossy();
        if hide_next {
            shown.push("***".to_owned());
            hide_next = false;
            continue;
        }
        match arg.split_once('=') {
            Some((flag, _)) if SECRET_FLAGS.contains(&flag) => shown.push(format!("{flag}=***")),
            _ => {
                hide_next = SECRET_FLAGS.contains(&arg.as_ref());
                shown.push(arg.into_owned());
            }
        }
    }
    shown.join(" ")
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_hides_credentials() {
        let mut command = Command::new("skopeo");
        command.args(["copy", "--dest-creds", "user:secret", "--src-creds=u:p", "a", "b"]);
        assert_eq!(display(&command), "skopeo copy --dest-creds *** --src-creds=*** a b");
    }
}
