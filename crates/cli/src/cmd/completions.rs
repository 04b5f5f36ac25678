//! `layerize completions SHELL`: the shell's completion script for every subcommand and flag,
//! generated from the same clap definition the binary parses with.

use std::io::Write;

use anyhow::{Context, Result};
use clap_complete::Shell;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell: bash, zsh or fish (elvish and powershell work too).
    shell: Shell,
}

pub fn run(args: Args, mut command: clap::Command) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "layerize", &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script).and_then(|()| stdout.flush()).context("writing the completion script")
}
