//! `cargo xtask serve`: installs what the page needs, builds it, and runs the server on
//! 127.0.0.1:8080 (arguments after `--` go to the server, e.g. `--allow-registry HOST:PORT`).

use std::process::Command;

use anyhow::{bail, Result};

use crate::{command, web_tools, Workspace};

pub fn run(ws: &Workspace, args: &[String]) -> Result<()> {
    let extra = match args.split_first() {
        None => &[][..],
        Some((first, rest)) if first == "--" => rest,
        Some((first, _)) => bail!("arguments for the server go after `--` (got `{first}`)"),
    };
    let tools = web_tools::ensure(ws)?;
    web_tools::build_page(ws, &tools)?;
    command::run(Command::new(&ws.cargo).args(["build", "--release", "-p", "layerize-server"]).current_dir(&ws.root))?;
    let server = ws.target.join("release").join("layerize-server");
    println!("\nthe page: http://127.0.0.1:8080  (Ctrl-C stops the server)\n");
    let mut cmd = Command::new(server);
    cmd.args(["--listen", "127.0.0.1:8080", "--dist"]).arg(ws.root.join("dist")).args(extra).current_dir(&ws.root);
    command::run(&mut cmd)
}
