//! `layerize`: build image layers from files and append them to images on a registry.
//!
//! Each subcommand parses its arguments, calls the core and registry crates, and prints its
//! result (and nothing else) on stdout; progress and errors go to stderr.

mod archive_file;
mod archive_out;
mod blob_source;
mod byte_pipe;
mod cmd;
mod credentials;
mod deflate;
mod files;
mod gzip_stream;
mod layer_file;
mod layer_stream;
mod layer_upload;
mod progress;
mod remote;
mod resolve;
mod scratch;
mod upload;

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
    /// Save images from registries into one archive (docker load, podman load and skopeo read it).
    Save(cmd::save::Args),
    /// Push the images in an archive (docker save, OCI layout; gzipped or not) to a registry.
    ///
    /// An image the archive holds a manifest for (OCI layout, Docker 25+) is pushed byte for
    /// byte, so its digest survives. An image listed only in manifest.json (legacy docker save,
    /// skopeo docker-archive) gets a Docker v2 schema 2 manifest, and its uncompressed layers
    /// are gzipped on the way up (fast, on every core; the registry gets fewer bytes):
    /// --no-compress pushes them as stored.
    Load(cmd::load::Args),
    /// Show what an image or index holds: platforms, config, history, layers.
    Inspect(cmd::inspect::Args),
    /// List the files of an image (merged) or of one of its layers, read from the registry.
    Ls(cmd::ls::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Append(args) => cmd::append::run(args),
        Command::Layer(args) => cmd::layer::run(args),
        Command::Save(args) => cmd::save::run(args),
        Command::Load(args) => cmd::load::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Ls(args) => cmd::ls::run(args),
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
