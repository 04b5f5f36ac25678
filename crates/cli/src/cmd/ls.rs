//! `layerize ls`: the files of an image, read straight from the registry. One layer's entries
//! as stored (printed while the layer downloads), or the merged filesystem a runtime would
//! unpack from all of them.

use std::io::{self, BufWriter, Stdout, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use layerize_core::flatten::{Flattener, MergedEntry};
use layerize_core::inspect::why_not_an_image;
use layerize_core::layer::read::{Kind, StoredEntry};
use layerize_core::manifest::Manifest;
use serde::Serialize;

use crate::image_arg::ImageArg;
use crate::layer_stream::read_layer;
use crate::remote::RegistryFlags;
use crate::source;
use crate::store::StoreFlag;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image: a registry reference (127.0.0.1:5000/app:1, alpine:3.20), a name in the
    /// local store, oci:DIR[:NAME], docker-archive:FILE[:NAME] or oci-archive:FILE[:NAME].
    reference: String,
    /// Which image of a multi-platform index (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// List one layer (counted from 1) as stored, whiteouts included.
    #[arg(long, value_name = "N", conflicts_with = "merged")]
    layer: Option<usize>,
    /// List the merged filesystem of all layers (the default).
    #[arg(long)]
    merged: bool,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryFlags,
}

pub fn run(args: Args, store: StoreFlag) -> Result<()> {
    let arg = ImageArg::parse(&args.reference, &store)?;
    let reference = match &arg {
        ImageArg::Registry(reference) => reference.to_string(),
        _ => args.reference.clone(),
    };
    let platforms = source::platforms(args.platform.as_deref(), false)?;
    // --username/--password-stdin are for the registry of the image listed.
    let access = args.registry.access(arg.registries())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let listed = runtime.block_on(async {
        let client = source::client_for(&arg, &access)?;
        let (source, selector) = source::open(&arg, &store, client.as_ref(), &platforms)?;
        let plan = source::plan(&source, &selector, &platforms).await?;
        let image =
            match Manifest::parse(&reference, plan.top.raw.to_vec(), Some(plan.top.descriptor.media_type.as_str()))? {
                Manifest::Image(image) => image,
                Manifest::Index(_) => bail!("{reference}: the platform's entry is itself an index"),
            };
        if let Some(problem) = why_not_an_image(&image) {
            bail!("{reference} has no files to list: {problem}");
        }
        let layers = &image.layers;
        let json = args.json;
        match args.layer {
            Some(n) if n == 0 || n > layers.len() => {
                let count = match layers.len() {
                    1 => "1 layer".to_owned(),
                    n => format!("{n} layers"),
                };
                bail!("{reference} has {count}; --layer takes 1 to {}", layers.len())
            }
            Some(n) => {
                let what = format!("listing layer {n} ({}) of {reference}", layers[n - 1].digest);
                let mut out = Output::new(json);
                read_layer(&source, &layers[n - 1], |entry| out.stored(&entry)).await.context(what)?;
                out.finish()
            }
            None => {
                let mut flattener = Flattener::new();
                for (i, layer) in layers.iter().enumerate() {
                    let what = format!("reading layer {} ({}) of {reference}", i + 1, layer.digest);
                    let mut entries = Vec::new();
                    read_layer(&source, layer, |entry| {
                        entries.push(entry);
                        Ok(())
                    })
                    .await
                    .context(what)?;
                    flattener.apply(&entries);
                }
                let mut out = Output::new(json);
                for entry in flattener.into_entries() {
                    out.merged(&entry)?;
                }
                out.finish()
            }
        }
    });
    match listed {
        // `layerize ls … | head`: the reader went away, which is not a failure.
        Err(e)
            if e.chain()
                .any(|c| c.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Lines on stdout: buffered, but the first line, and then at least every 100 ms, go out at
/// once, so a listing shows progress while a big layer downloads.
struct Output {
    out: BufWriter<Stdout>,
    json: bool,
    flushed: Option<Instant>,
}

const FLUSH_EVERY: Duration = Duration::from_millis(100);

impl Output {
    fn new(json: bool) -> Output {
        Output { out: BufWriter::with_capacity(64 << 10, io::stdout()), json, flushed: None }
    }

    fn stored(&mut self, entry: &StoredEntry) -> Result<()> {
        if self.json {
            return self.json_line(entry);
        }
        let line = Line {
            kind: &entry.kind,
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            size: entry.size,
            layer: None,
            path: &entry.path,
        };
        writeln!(self.out, "{line}")?;
        self.tick()
    }

    fn merged(&mut self, entry: &MergedEntry) -> Result<()> {
        if self.json {
            return self.json_line(entry);
        }
        let line = Line {
            kind: &entry.kind,
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
            size: entry.size,
            layer: Some(entry.layer),
            path: &entry.path,
        };
        writeln!(self.out, "{line}")?;
        self.tick()
    }

    fn json_line(&mut self, entry: &impl Serialize) -> Result<()> {
        serde_json::to_writer(&mut self.out, entry)?;
        self.out.write_all(b"\n")?;
        self.tick()
    }

    fn tick(&mut self) -> Result<()> {
        if self.flushed.is_none_or(|at| at.elapsed() >= FLUSH_EVERY) {
            self.out.flush()?;
            self.flushed = Some(Instant::now());
        }
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        Ok(self.out.flush()?)
    }
}

/// One line of text output, `tar -tv`-like:
/// `-rwxr-xr-x 0/0 1982256 /bin/busybox`, with the layer (`L2`) before the path in a merged
/// listing, and what links and whiteouts mean after it.
struct Line<'a> {
    kind: &'a Kind,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    layer: Option<usize>,
    path: &'a str,
}

impl std::fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let size = match self.kind {
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => format!("{major},{minor}"),
            _ => self.size.to_string(),
        };
        let ids = format!("{}/{}", self.uid, self.gid);
        write!(f, "{}{} {ids:<9} {size:>10} ", type_char(self.kind), permissions(self.mode))?;
        if let Some(layer) = self.layer {
            write!(f, "L{layer:<3} ")?;
        }
        f.write_str(self.path)?;
        match self.kind {
            Kind::Symlink { target } => write!(f, " -> {target}"),
            Kind::Hardlink { target } => write!(f, " link to {target}"),
            Kind::Whiteout { hides } => write!(f, "  (whiteout: deletes {hides})"),
            Kind::Opaque { dir } => write!(f, "  (opaque: hides what lower layers have in {dir})"),
            Kind::AufsMeta => f.write_str("  (aufs metadata, ignored)"),
            Kind::Other { type_flag } => write!(f, "  (unknown tar type {type_flag:?})"),
            _ => Ok(()),
        }
    }
}

fn type_char(kind: &Kind) -> char {
    match kind {
        Kind::Dir => 'd',
        Kind::Symlink { .. } => 'l',
        Kind::Hardlink { .. } => 'h',
        Kind::CharDevice { .. } => 'c',
        Kind::BlockDevice { .. } => 'b',
        Kind::Fifo => 'p',
        // Whiteouts are empty regular files in the tar; the note after the path says more.
        Kind::File | Kind::Whiteout { .. } | Kind::Opaque { .. } | Kind::AufsMeta | Kind::Other { .. } => '-',
    }
}

/// `rwxr-xr-x`, with setuid, setgid and sticky bits as `ls -l` shows them.
fn permissions(mode: u32) -> String {
    let mut s: Vec<u8> =
        b"rwxrwxrwx".iter().enumerate().map(|(i, c)| if mode & (0o400 >> i) != 0 { *c } else { b'-' }).collect();
    for (bit, at, set, unset) in [(0o4000, 2, b's', b'S'), (0o2000, 5, b's', b'S'), (0o1000, 8, b't', b'T')] {
        if mode & bit != 0 {
            s[at] = if s[at] == b'-' { unset } else { set };
        }
    }
    String::from_utf8_lossy(&s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_like_tar_tv() {
        let line =
            |kind: &Kind, mode, layer, path| Line { kind, mode, uid: 0, gid: 0, size: 5, layer, path }.to_string();
        assert_eq!(line(&Kind::File, 0o4755, None, "/usr/bin/su"), "-rwsr-xr-x 0/0                5 /usr/bin/su");
        assert_eq!(line(&Kind::Dir, 0o1777, Some(2), "/tmp"), "drwxrwxrwt 0/0                5 L2   /tmp");
        let wh = Kind::Whiteout { hides: "/etc/motd".into() };
        assert_eq!(
            line(&wh, 0, None, "/etc/.wh.motd"),
            "---------- 0/0                5 /etc/.wh.motd  (whiteout: deletes /etc/motd)"
        );
        let dev = Kind::CharDevice { major: 1, minor: 3 };
        assert_eq!(line(&dev, 0o666, None, "/dev/null"), "crw-rw-rw- 0/0              1,3 /dev/null");
        assert_eq!(permissions(0o2644), "rw-r-Sr--");
    }
}
