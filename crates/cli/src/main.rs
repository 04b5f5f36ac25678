//! `layerize`: build image layers from files and append them to images on a registry.
//!
//! Each subcommand parses its arguments, calls the core and registry crates, and prints its
//! result (and nothing else) on stdout; progress and errors go to stderr.

mod archive_file;
mod archive_image;
mod archive_out;
mod blob_source;
mod byte_pipe;
mod cmd;
mod credentials;
mod deflate;
mod files;
mod gzip_stream;
mod image_arg;
mod layer_feed;
mod layer_file;
mod layer_stream;
mod layer_upload;
mod progress;
mod remote;
mod resolve;
mod scratch;
mod sink;
mod source;
mod store;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "layerize",
    version,
    about = "Container image layers without a Dockerfile or a daemon",
    after_help = "Examples:\n  layerize pull alpine:3.20\n  layerize append alpine:3.20 -f ./app:/opt/app -t 127.0.0.1:5000/app:1\n  layerize <COMMAND> --help    (each command's options and an example)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    store: store::StoreFlag,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Append a layer made of files to an image and push the result.
    #[command(
        after_help = "Example:\n  layerize append 127.0.0.1:5000/base:1 -f ./app:/opt/app -t 127.0.0.1:5000/app:1"
    )]
    Append(cmd::append::Args),
    /// Build a layer from files, offline, and print its digests.
    #[command(after_help = "Example:\n  layerize layer -f ./app:/opt/app -o app.tar.gz")]
    Layer(cmd::layer::Args),
    /// Save images from registries into one archive (docker load, podman load and skopeo read it).
    #[command(after_help = "Example:\n  layerize save alpine:3.20 127.0.0.1:5000/app:1 -o images.tar")]
    Save(cmd::save::Args),
    /// Push the images in an archive (docker save, OCI layout; gzipped or not) to a registry.
    ///
    /// An image the archive holds a manifest for (OCI layout, Docker 25+) is pushed byte for
    /// byte, so its digest survives. An image listed only in manifest.json (legacy docker save,
    /// skopeo docker-archive) gets a Docker v2 schema 2 manifest, and its uncompressed layers
    /// are gzipped on the way up (fast, on every core; the registry gets fewer bytes):
    /// --no-compress pushes them as stored.
    #[command(
        after_help = "Examples:\n  layerize load images.tar\n  layerize load docker-save.tar.gz -t 127.0.0.1:5000/copy:1"
    )]
    Load(cmd::load::Args),
    /// Show what an image or index holds: platforms, config, history, layers.
    #[command(
        after_help = "Examples:\n  layerize inspect alpine:3.20\n  layerize inspect alpine:3.20 --platform linux/arm64 --config"
    )]
    Inspect(cmd::inspect::Args),
    /// List the files of an image (merged) or of one of its layers, read from the registry.
    #[command(after_help = "Example:\n  layerize ls 127.0.0.1:5000/app:1 --layer 2")]
    Ls(cmd::ls::Args),
    /// Pull an image (or, with --all-platforms, a whole index) into the local store, byte for byte.
    #[command(after_help = "Example:\n  layerize pull alpine:3.20 --platform linux/arm64")]
    Pull(cmd::pull::Args),
    /// Push an image from the local store to a registry, byte for byte.
    #[command(after_help = "Example:\n  layerize push app:dev 127.0.0.1:5000/app:1")]
    Push(cmd::push::Args),
    /// List the images in the local store.
    #[command(after_help = "Example:\n  layerize images --json")]
    Images(cmd::images::Args),
    /// Give an image in the local store another name.
    #[command(after_help = "Example:\n  layerize tag alpine:3.20 127.0.0.1:5000/alpine:3.20")]
    Tag(cmd::tag::Args),
    /// Remove names from the local store (their blobs stay until `gc`).
    #[command(after_help = "Example:\n  layerize rmi alpine:3.20 && layerize gc")]
    Rmi(cmd::rmi::Args),
    /// Remove the blobs no image in the local store uses; prints the bytes freed.
    #[command(after_help = "Example:\n  layerize rmi old:1 && layerize gc")]
    Gc(cmd::gc::Args),
    /// Copy an image or index between registries, OCI layouts, archives and the local store.
    #[command(
        after_help = "Examples:\n  layerize copy alpine:3.20 127.0.0.1:5000/alpine:3.20 --all-platforms\n  layerize copy 127.0.0.1:5000/app:1 oci:./layout:app:1\n  layerize copy docker-archive:app.tar app:dev    (into the local store)"
    )]
    Copy(cmd::copy::Args),
    /// Write an image's root filesystem (its layers merged) as one tar, for `docker import`.
    #[command(after_help = "Example:\n  layerize export alpine:3.20 -o rootfs.tar")]
    Export(cmd::export::Args),
    /// Write an image's root filesystem (its layers merged) into a directory.
    #[command(after_help = "Example:\n  layerize unpack alpine:3.20 ./rootfs")]
    Unpack(cmd::unpack::Args),
    /// Check a username and password against a registry and save them as docker login does.
    #[command(
        after_help = "Examples:\n  layerize login ghcr.io -u octocat\n  echo \"$TOKEN\" | layerize login ghcr.io -u octocat --password-stdin"
    )]
    Login(cmd::login::Args),
    /// Forget the credentials saved for a registry.
    #[command(after_help = "Example:\n  layerize logout ghcr.io")]
    Logout(cmd::logout::Args),
    /// Print the shell completion script for bash, zsh or fish.
    #[command(
        after_help = "Examples:\n  layerize completions bash > ~/.local/share/bash-completion/completions/layerize\n  layerize completions fish > ~/.config/fish/completions/layerize.fish"
    )]
    Completions(cmd::completions::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Append(args) => cmd::append::run(args, cli.store),
        Command::Layer(args) => cmd::layer::run(args),
        Command::Save(args) => cmd::save::run(args, cli.store),
        Command::Load(args) => cmd::load::run(args),
        Command::Inspect(args) => cmd::inspect::run(args, cli.store),
        Command::Ls(args) => cmd::ls::run(args, cli.store),
        Command::Pull(args) => cmd::pull::run(args, cli.store),
        Command::Push(args) => cmd::push::run(args, cli.store),
        Command::Images(args) => cmd::images::run(args, cli.store),
        Command::Tag(args) => cmd::tag::run(args, cli.store),
        Command::Rmi(args) => cmd::rmi::run(args, cli.store),
        Command::Gc(args) => cmd::gc::run(args, cli.store),
        Command::Copy(args) => cmd::copy::run(args, cli.store),
        Command::Export(args) => cmd::export::run(args, cli.store),
        Command::Unpack(args) => cmd::unpack::run(args, cli.store),
        Command::Login(args) => cmd::login::run(args),
        Command::Logout(args) => cmd::logout::run(args),
        Command::Completions(args) => cmd::completions::run(args, Cli::command()),
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every subcommand, new ones included, shows an example under both -h and --help.
    #[test]
    fn every_subcommand_shows_an_example() {
        let mut cli = Cli::command();
        cli.build();
        // Ours, not clap's own `help`.
        let names: Vec<String> =
            cli.get_subcommands().map(|c| c.get_name().to_owned()).filter(|name| name != "help").collect();
        assert!(names.len() >= 18, "{names:?}");
        for name in names {
            let sub = cli.find_subcommand_mut(&name).unwrap_or_else(|| panic!("{name}"));
            let short = sub.render_help().to_string();
            let long = sub.render_long_help().to_string();
            for help in [short, long] {
                assert!(help.contains("Example"), "`layerize {name} --help` shows no example:\n{help}");
                assert!(help.contains(&format!("layerize {name}")), "{name}'s example does not run it:\n{help}");
            }
        }
    }
}
