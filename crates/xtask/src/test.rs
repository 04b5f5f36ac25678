//! `cargo xtask test`: installs what the tests need, then runs every check in order, stopping
//! at the first failure: the debug CLI the e2e tests run, all unit and e2e tests, the core's
//! wasm32 build, and clippy.

use std::ffi::OsString;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{command, install, Workspace};

/// One cargo invocation, with a name for the progress lines and the error.
#[derive(Debug)]
struct Step {
    name: &'static str,
    args: Vec<OsString>,
}

impl Step {
    fn new(name: &'static str, args: &[&str]) -> Step {
        Step {
            name,
            args: args.iter().map(OsString::from).collect(),
        }
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

    let mut test = Step::new(
        "unit and e2e tests",
        &["test", "--workspace", "--exclude", "xtask"],
    );
    test.args.extend(extra.iter().map(OsString::from));
    let mut steps = vec![
        // The e2e tests run target/debug/layerize; `cargo test` does not build another
        // package's binary.
        Step::new("build the debug CLI", &["build", "-p", "layerize"]),
        test,
        Step::new(
            "core and registry for wasm32",
            &[
                "check",
                "-p",
                "layerize-core",
                "-p",
                "layerize-registry",
                "--target",
                install::WASM_TARGET,
            ],
        ),
    ];
    if clippy_installed(ws) {
        steps.push(Step::new(
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
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
        cmd.args(&step.args).current_dir(&ws.root);
        let result = command::run(&mut cmd);
        let took = started.elapsed();
        result.with_context(|| {
            format!(
                "step {n}/{total} `{}` failed after {}",
                step.name,
                secs(took)
            )
        })?;
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
    Command::new(&ws.cargo)
        .args(["clippy", "--version"])
        .output()
        .is_ok_and(|out| out.status.success())
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}
