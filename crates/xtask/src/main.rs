//! `cargo xtask`: the project's chores, written in Rust so that a fresh Debian 12 + rustup
//! machine needs nothing else to build, test and measure layerize.
//!
//! `test` installs what the tests need ([`install`]) and runs every test in order; `bench`
//! measures `layerize layer` beside `tar | gzip` and `tar | pigz`; `serve` builds and serves
//! the page; `image` builds the server's container image with layerize ([`image`]). Every
//! child process is printed before it runs ([`command`]).

mod bench;
mod bench_page;
mod command;
mod image;
mod install;
mod serve;
mod test;
mod web_tools;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test [-- ARGS]      install what the tests need, then build, run every test (ARGS are
                      appended to `cargo test`, e.g. `-- -- --test-threads=2`), check the
                      core for wasm32 and run clippy
  install             only install what the tests need (Debian packages, wasm32 target)
  serve [-- ARGS]     install what the page needs (trunk, wasm-bindgen-cli, binaryen), build it
                      and serve it with the proxy on http://127.0.0.1:8080 (ARGS go to the
                      server, e.g. `-- --allow-registry 127.0.0.1:5000`)
  image [-o FILE] [-t REF] [--server FILE --layerize FILE] [--dist DIR]
                      the server's container image, made by `layerize append scratch` (no
                      Dockerfile, no daemon): a docker-load tar (default
                      target/layerize-server-image.tar) and/or pushed to REF; the options
                      take built binaries and page instead of building them
  bench [--size-mib N] [--runs N] [--rss-sizes A,B,..]
                      `layerize layer` vs `tar | gzip -6` vs `tar | pigz -6` on one generated
                      tree (default 300 MiB, 3 runs); with --rss-sizes, only layerize on trees
                      of those sizes, to show its memory does not grow with the input
  bench-page [--sizes 256,1024]
                      the page's layer build in headless Chromium vs `layerize layer` on the
                      same generated trees; worker memory and JS heap per size";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let ws = Workspace::locate();
    let (name, rest) = match args.split_first() {
        Some((name, rest)) => (name.as_str(), rest),
        None => {
            println!("{USAGE}");
            return Ok(());
        }
    };
    match name {
        "test" => test::run(&ws, rest),
        "install" => {
            no_args(name, rest)?;
            install::for_tests()
        }
        "serve" => serve::run(&ws, rest),
        "image" => image::run(&ws, rest),
        "bench" => bench::run(&ws, rest),
        "bench-page" => bench_page::run(&ws, rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

fn no_args(name: &str, rest: &[String]) -> Result<()> {
    match rest.first() {
        None => Ok(()),
        Some(arg) => bail!("`cargo xtask {name}` takes no arguments (got `{arg}`)"),
    }
}

/// Where things are: the workspace root, cargo's target dir and the cargo that runs us.
#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub target: PathBuf,
    /// The same cargo (and so the same toolchain) that runs xtask.
    pub cargo: OsString,
}

impl Workspace {
    fn locate() -> Workspace {
        // This crate lives at crates/xtask, two levels below the root.
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir.ancestors().nth(2).map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf);
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        Workspace { root, target, cargo }
    }

    /// `path` relative to the root when it is inside it, for printing commands a reader can
    /// paste from the root.
    pub fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
    }
}
