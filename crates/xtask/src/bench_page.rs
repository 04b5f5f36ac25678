//! `cargo xtask bench-page [--sizes 256,1024]`: the page's layer build in headless Chromium
//! against `layerize layer` (one thread and all cores) on the same generated trees, and the
//! page's listing of a 300 MiB layer against `layerize ls` and skopeo + tar, in one run.
//! The measuring is the ignored e2e tests in `page_bench`; this makes their inputs (the trees
//! of `cargo xtask bench`), builds what they run, and runs them.

use std::process::Command;

use anyhow::{Context, Result};

use crate::bench::tree;
use crate::{command, install, web_tools, Workspace};

pub fn run(ws: &Workspace, args: &[String]) -> Result<()> {
    let sizes: Vec<u64> = match args {
        [] => vec![256, 1024],
        [flag, list] if flag == "--sizes" => list
            .split(',')
            .map(|s| s.trim().parse().context("--sizes takes MiB numbers like 256,1024"))
            .collect::<Result<_>>()?,
        _ => anyhow::bail!("usage: cargo xtask bench-page [--sizes 256,1024]"),
    };
    install::for_tests()?;
    let tools = web_tools::ensure(ws)?;
    web_tools::build_page(ws, &tools)?;
    // Release builds of what people run: the CLI, and the server (`cargo xtask serve`).
    command::run(
        Command::new(&ws.cargo)
            .args(["build", "--release", "-p", "layerize", "-p", "layerize-server"])
            .current_dir(&ws.root),
    )?;
    command::run(
        Command::new(&ws.cargo).args(["build", "-p", "layerize", "-p", "layerize-server"]).current_dir(&ws.root),
    )?;
    let bench_dir = ws.target.join("bench");
    let listed = tree::ensure(&bench_dir, 300)?;
    let mut dirs = Vec::new();
    for size in sizes {
        let t = tree::ensure(&bench_dir, size)?;
        t.warm()?;
        dirs.push(t.dir.display().to_string());
    }
    let mut cmd = Command::new(&ws.cargo);
    cmd.args([
        "test",
        "-p",
        "layerize-tests",
        "--test",
        "e2e",
        "page_bench::",
        "--",
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .current_dir(&ws.root)
    .env("LAYERIZE_BENCH_TREES", dirs.join(","))
    .env("LAYERIZE_BENCH_LIST_TREE", &listed.dir)
    .env("PATH", tools.path_var()?);
    command::run(&mut cmd)?;
    println!("tables: {} and {}", ws.display(&bench_dir.join("page.md")), ws.display(&bench_dir.join("page-ls.md")));
    Ok(())
}
