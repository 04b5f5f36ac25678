//! `layerize`: build image layers from files and append them to images on a registry.
//!
//! Each subcommand parses its arguments, calls the core and registry crates, and prints its
//! result (and nothing else) on stdout; progress and errors go to stderr.

mod blob_source;
mod cmd;
mod credentials;
mod deflate;
mod files;
mod layer_file;
mod progress;
mod remote;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "layerize", version, about = "Container image layers without a Dockerfile or a daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Append a layer made of files to an image and push the result.
    Append(cmd::append::Args),
    /// Build a layer from files, offline, and print its digests.
    Layer(cmd::layer::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Append(args) => cmd::append::run(args),
        Command::Layer(args) => cmd::layer::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
