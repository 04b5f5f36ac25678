//! `cargo xtask image`: the server's container image, built by layerize itself: `layerize
//! append scratch` with the release `layerize-server`, the shared libraries `ldd` names for it
//! (and the dynamic loader), a few `/etc` files and the built page, onto an empty base. No
//! Dockerfile, no daemon. The config runs the server as 65532:65532 (no root), takes every
//! setting from `LAYERIZE_*` variables, and needs nothing writable, so the container can run
//! with a read-only root filesystem.
//!
//! Writes a `docker load` tar (`-o`, default `target/layerize-server-image.tar`) and/or pushes
//! (`-t REF`). `--server`, `--layerize` and `--dist` take already-built inputs instead of
//! building them (the end-to-end test runs the debug build that way).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{command, web_tools, Workspace};

/// Where the binary, the page and the port are in the image.
pub const SERVER_PATH: &str = "/usr/local/bin/layerize-server";
pub const DIST_PATH: &str = "/srv/layerize/dist";
pub const PORT: u16 = 8080;
/// The user and group the server runs as: no root, and no name needed (distroless's `nonroot`).
pub const USER: &str = "65532:65532";
/// The image name inside a tar written without `-t`.
const DEFAULT_NAME: &str = "layerize-server:latest";

/// What `cargo xtask image` was asked for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    output: Option<PathBuf>,
    tag: Option<String>,
    server: Option<PathBuf>,
    layerize: Option<PathBuf>,
    dist: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options::default();
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let mut value = || args.next().with_context(|| format!("`{flag}` needs a value"));
            match flag.as_str() {
                "-o" | "--output" => options.output = Some(value()?.into()),
                "-t" | "--tag" => options.tag = Some(value()?.clone()),
                "--server" => options.server = Some(value()?.into()),
                "--layerize" => options.layerize = Some(value()?.into()),
                "--dist" => options.dist = Some(value()?.into()),
                other => bail!(
                    "unknown option `{other}` for `cargo xtask image` \
                     (-o FILE, -t REF, --server FILE, --layerize FILE, --dist DIR)"
                ),
            }
        }
        Ok(options)
    }
}

pub fn run(ws: &Workspace, args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    // A tar unless only a push was asked for.
    let output = match (&options.output, &options.tag) {
        (Some(path), _) => Some(path.clone()),
        (None, None) => Some(ws.target.join("layerize-server-image.tar")),
        (None, Some(_)) => None,
    };

    if options.server.is_none() || options.layerize.is_none() {
        command::run(
            Command::new(&ws.cargo)
                .args(["build", "--release", "-p", "layerize-server", "-p", "layerize"])
                .current_dir(&ws.root),
        )?;
    }
    let release = ws.target.join("release");
    let server = options.server.clone().unwrap_or_else(|| release.join("layerize-server"));
    let layerize = options.layerize.clone().unwrap_or_else(|| release.join("layerize"));
    let dist = match &options.dist {
        Some(dist) => dist.clone(),
        None => {
            let tools = web_tools::ensure(ws)?;
            web_tools::build_page(ws, &tools)?;
            ws.root.join("dist")
        }
    };
    if !dist.join("index.html").is_file() {
        bail!("{} holds no index.html: it is not a built page", dist.display());
    }

    let ldd = command::output(Command::new("ldd").arg(&server))
        .with_context(|| format!("listing the shared libraries of {}", server.display()))?;
    let libraries = shared_libraries(&ldd)?;
    let etc = ws.target.join("server-image").join("etc");
    write_etc(&etc)?;

    let mut append = Command::new(&layerize);
    append.current_dir(&ws.root).args(append_args(&server, &libraries, &etc, &dist));
    if let Some(created) = source_date(ws) {
        append.arg("--created").arg(created);
    }
    if let Some(revision) = git(ws, &["rev-parse", "HEAD"]) {
        append.arg("--label").arg(format!("org.opencontainers.image.revision={revision}"));
    }
    let name = options.tag.clone().unwrap_or_else(|| DEFAULT_NAME.to_owned());
    match &output {
        Some(path) => {
            append.arg("-o").arg(path).arg("-t").arg(&name);
            command::run(&mut append)?;
            if let Some(tag) = &options.tag {
                // The same bytes (and so the same digest) as in the tar, pushed under its name.
                command::run(Command::new(&layerize).current_dir(&ws.root).arg("load").arg(path))
                    .with_context(|| format!("pushing {tag}"))?;
            }
            println!("\nthe image: {} (docker load -i {0}; image {name})", ws.display(path));
        }
        None => {
            append.arg("-t").arg(&name);
            command::run(&mut append)?;
        }
    }
    Ok(())
}

/// `layerize append` arguments up to the destination: the files onto `scratch` and the
/// config the server runs with. Settings go in as `LAYERIZE_*` variables rather than flags in
/// the entrypoint, so that `docker run -e` or a Kubernetes `env:` can change any of them (a
/// flag would win over the variable).
fn append_args(server: &Path, libraries: &[PathBuf], etc: &Path, dist: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["append", "scratch", "-q"].map(OsString::from).into();
    let mut file = |src: &Path, dest: &str| {
        args.push("-f".into());
        let mut pair = src.as_os_str().to_owned();
        pair.push(":");
        pair.push(dest);
        args.push(pair);
    };
    file(server, SERVER_PATH);
    for library in libraries {
        file(library, &library.to_string_lossy());
    }
    file(etc, "/etc");
    file(dist, DIST_PATH);
    let listen = format!("0.0.0.0:{PORT}");
    for (flag, value) in [
        ("--entrypoint", format!("[\"{SERVER_PATH}\"]")),
        ("--env", format!("LAYERIZE_LISTEN={listen}")),
        ("--env", format!("LAYERIZE_DIST={DIST_PATH}")),
        ("--user", USER.to_owned()),
        ("--workdir", "/".to_owned()),
        ("--expose", format!("{PORT}/tcp")),
        ("--label", "org.opencontainers.image.title=layerize-server".to_owned()),
        ("--label", format!("org.opencontainers.image.version={}", env!("CARGO_PKG_VERSION"))),
        ("--history", "layerize-server, its shared libraries and the page (cargo xtask image)".to_owned()),
    ] {
        args.push(flag.into());
        args.push(value.into());
    }
    args
}

/// The files `ldd` names: each resolved library (`libc.so.6 => /lib/…/libc.so.6 (0x…)`) and
/// the loader (`/lib64/ld-linux-x86-64.so.2 (0x…)`); the vDSO is the kernel's. A library it
/// cannot find is an error, not an image that fails to start.
fn shared_libraries(ldd: &str) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for line in ldd.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("statically linked") {
            continue;
        }
        let path = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    bail!("ldd cannot find {} for the server", name.trim());
                }
                rest.split(" (").next().unwrap_or_default().trim()
            }
            None => line.split(" (").next().unwrap_or_default().trim(),
        };
        if path.starts_with('/') {
            found.push(PathBuf::from(path));
        } else if !path.starts_with("linux-vdso") && !path.starts_with("linux-gate") {
            bail!("cannot read ldd's line {line:?}");
        }
    }
    if !found.iter().any(|p| p.to_string_lossy().contains("ld-linux")) && !found.is_empty() {
        bail!("ldd names no dynamic loader among {found:?}");
    }
    Ok(found)
}

/// `/etc` for the image: who 65532 is (tools show the name), and host lookups trying
/// `/etc/hosts` before DNS (glibc's default without this file tries DNS first and never
/// reads `/etc/hosts` when DNS is unavailable).
fn write_etc(etc: &Path) -> Result<()> {
    fs::create_dir_all(etc).with_context(|| format!("creating {}", etc.display()))?;
    for (name, text) in [
        ("passwd", "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"),
        ("group", "root:x:0:\nnonroot:x:65532:\n"),
        ("nsswitch.conf", "hosts: files dns\n"),
    ] {
        let path = etc.join(name);
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The image's `created` time: `SOURCE_DATE_EPOCH` if set, else the last commit's time, so
/// that the same tree gives the same config.
fn source_date(ws: &Workspace) -> Option<String> {
    if let Some(seconds) = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<u64>().ok()) {
        return Some(rfc3339(seconds));
    }
    git(ws, &["log", "-1", "--format=%ct"]).and_then(|s| s.parse().ok()).map(rfc3339)
}

fn git(ws: &Workspace, args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).current_dir(&ws.root).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, proleptic Gregorian).
fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let secs = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LDD: &str = "\tlinux-vdso.so.1 (0x00007ffc8a5f2000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f2b1c5b0000)
\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f2b1c4d1000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2b1c2f0000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f2b1d1c8000)
";

    #[test]
    fn ldd_lines_give_the_libraries_and_the_loader() {
        let found = shared_libraries(LDD).unwrap_or_else(|e| panic!("{e:#}"));
        let found: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            found,
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libm.so.6",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
        assert_eq!(
            shared_libraries("\tstatically linked\n").unwrap_or_else(|e| panic!("{e:#}")),
            Vec::<PathBuf>::new()
        );
        let missing = shared_libraries("\tlibssl.so.3 => not found\n").map(|_| ()).unwrap_err();
        assert!(missing.to_string().contains("libssl.so.3"), "{missing}");
        let no_loader =
            shared_libraries("\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n").map(|_| ()).unwrap_err();
        assert!(no_loader.to_string().contains("loader"), "{no_loader}");
    }

    #[test]
    fn the_append_puts_everything_in_place_and_configures_the_server() {
        let libraries =
            [PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"), PathBuf::from("/lib64/ld-linux-x86-64.so.2")];
        let args = append_args(Path::new("/b/layerize-server"), &libraries, Path::new("/t/etc"), Path::new("/w/dist"));
        let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let line = args.join(" ");
        assert!(line.starts_with("append scratch -q -f /b/layerize-server:/usr/local/bin/layerize-server "), "{line}");
        for expected in [
            "-f /lib/x86_64-linux-gnu/libc.so.6:/lib/x86_64-linux-gnu/libc.so.6",
            "-f /lib64/ld-linux-x86-64.so.2:/lib64/ld-linux-x86-64.so.2",
            "-f /t/etc:/etc",
            "-f /w/dist:/srv/layerize/dist",
            "--entrypoint [\"/usr/local/bin/layerize-server\"]",
            "--env LAYERIZE_LISTEN=0.0.0.0:8080",
            "--env LAYERIZE_DIST=/srv/layerize/dist",
            "--user 65532:65532",
            "--expose 8080/tcp",
        ] {
            assert!(line.contains(expected), "{expected} missing from {line}");
        }
    }

    #[test]
    fn options_parse() {
        let args: Vec<String> = ["-o", "x.tar", "-t", "127.0.0.1:5000/s:1", "--dist", "d"].map(String::from).into();
        let options = Options::parse(&args).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(options.output, Some(PathBuf::from("x.tar")));
        assert_eq!(options.tag.as_deref(), Some("127.0.0.1:5000/s:1"));
        assert_eq!(options.dist, Some(PathBuf::from("d")));
        assert!(Options::parse(&["--nope".to_owned()]).is_err());
        assert!(Options::parse(&["-o".to_owned()]).is_err());
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_764_000_000), "2025-11-24T16:00:00Z");
    }
}
