//! `layerize layer`: build a layer offline and print its digests.

use std::path::PathBuf;

use anyhow::{Context, Result};
use layerize_core::layer::gzip::Profile;
use layerize_core::layer::LayerOptions;

use crate::files::{self, FileArg};
use crate::layer_file;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A file or directory to add, and where: SRC[:DEST] (repeatable).
    #[arg(short = 'f', long = "file", value_name = "SRC[:DEST]")]
    files: Vec<FileArg>,
    /// A path to delete from the layers below (written as a whiteout; repeatable).
    #[arg(long = "delete", value_name = "PATH")]
    deletes: Vec<String>,
    /// Where to write the gzipped layer.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// Modification time of every entry, in seconds since 1970.
    #[arg(long, default_value_t = 0)]
    mtime: u64,
    /// The pinned gzip profile: 2 stores 1 MiB blocks that would not shrink, 1 deflates every
    /// block (the digests of layers built before profile 2).
    #[arg(long, value_name = "1|2", default_value = "2", value_parser = layer_file::parse_profile)]
    gzip_profile: Profile,
    /// Deflate threads (default: one per core; 1 runs everything on one thread). The bytes are
    /// the same for any number.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let plan = files::plan(&args.files, &args.deletes)?;
    let dir = match args.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let (digests, temp) =
        layer_file::build(plan, &LayerOptions { mtime: args.mtime, gzip: args.gzip_profile }, args.threads, &dir)?;
    // Temp files are private (0600); the layer is an ordinary output file.
    std::fs::set_permissions(temp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    temp.persist(&args.output).with_context(|| format!("cannot write {}", args.output.display()))?;
    if args.json {
        println!("{}", serde_json::to_string(&digests)?);
    } else {
        println!("diffID: {}", digests.diff_id);
        println!("digest: {}", digests.digest);
        println!("size:   {}", digests.size);
    }
    Ok(())
}
