//! `cargo xtask test`: installs what the tests need, builds the page, then runs every check in
//! order, stopping at the first failure: the format check (first: it takes a second), the debug
//! CLI and server the e2e tests run, all unit and e2e tests (the page's in headless Chromium),
//! the core's tests inside Chromium, the registry crate's wasm32 build, and clippy.

use std::ffi::OsString;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{command, install, web_tools, Workspace};

/// One cargo invocation, with a name for the progress lines and the error.
#[derive(Debug)]
struct Step {
    name: &'static str,
    args: Vec<OsString>,
}

impl Step {
    fn new(name: &'static str, args: &[&str]) -> Step {
        Step { name, args: args.iter().map(OsString::from).collect() }
    }
}

/// `args` are what the user gave after `cargo xtask test`; everything after `--` goes to
/// `cargo test`.
pub fn run(ws: &Workspace, args: &[String]) -> Result<()> {
    let extra = match args.split_first() {
        None => &[][..],
        Some((first, rest)) if first == "--" => rest,
        Some((first, _)) => bail!(
            "`cargo xtask test` takes no options; arguments for `cargo test` go after `--` \
             (got `{first}`)"
        ),
    };
    install::for_tests()?;
    let tools = web_tools::ensure(ws)?;
    // The page's e2e tests drive the built page through the server.
    println!("\n==> build the page");
    web_tools::build_page(ws, &tools)?;

    let mut test =
        Step::new("unit and e2e tests", &["test", "--workspace", "--exclude", "xtask", "--exclude", "layerize-web"]);
    test.args.extend(extra.iter().map(OsString::from));
    let mut steps = vec![
        // Cheapest first: a tree that is not `rustfmt`-formatted fails in a second.
        Step::new("format (cargo fmt --check)", &["fmt", "--all", "--check"]),
        // The e2e tests run target/debug/layerize and layerize-server; `cargo test` does not
        // build another package's binaries.
        Step::new("build the debug CLI and server", &["build", "-p", "layerize", "-p", "layerize-server"]),
        test,
        Step::new(
            "core tests in headless Chromium (wasm-bindgen-test)",
            &["test", "-p", "layerize-core", "--target", install::WASM_TARGET, "--test", "golden"],
        ),
        Step::new("registry crate for wasm32", &["check", "-p", "layerize-registry", "--target", install::WASM_TARGET]),
    ];
    if clippy_installed(ws) {
        steps.push(Step::new(
            "clippy",
            &["clippy", "--workspace", "--exclude", "layerize-web", "--all-targets", "--", "-D", "warnings"],
        ));
        steps.push(Step::new(
            "clippy (page, wasm32)",
            &["clippy", "-p", "layerize-web", "--target", install::WASM_TARGET, "--", "-D", "warnings"],
        ));
    } else {
        println!("clippy is not installed (rustup component add clippy): that step is skipped");
    }

    let total = steps.len();
    let mut done: Vec<(&str, Duration)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        println!("\n==> [{n}/{total}] {}", step.name);
        let started = Instant::now();
        let mut cmd = Command::new(&ws.cargo);
        cmd.args(&step.args)
            .current_dir(&ws.root)
            .env("PATH", tools.path_var()?)
            .env("CHROMEDRIVER", "/usr/bin/chromedriver");
        let result = command::run(&mut cmd);
        let took = started.elapsed();
        result.with_context(|| format!("step {n}/{total} `{}` failed after {}", step.name, secs(took)))?;
        println!("<== [{n}/{total}] {}: ok in {}", step.name, secs(took));
        done.push((step.name, took));
    }

    println!("\nall {total} steps passed:");
    for (name, took) in &done {
        println!("  {:>8}  {name}", secs(*took));
    }
    Ok(())
}

fn clippy_installed(ws: &Workspace) -> bool {
    Command::new(&ws.cargo).args(["clippy", "--version"]).output().is_ok_and(|out| out.status.success())
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}
