//! `cargo xtask bench`: how fast `layerize layer` is and how much memory it takes, measured in
//! one sitting beside `tar | gzip -6` and `tar | pigz -6` on the same generated input
//! ([`tree`]), or, with `--rss-sizes`, alone on inputs of several sizes.

mod measure;
mod report;
pub mod tree;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{command, install, Workspace};
use measure::{Sample, Timed};

/// `cargo xtask bench` options.
#[derive(Debug, PartialEq)]
struct Options {
    size_mib: u64,
    runs: usize,
    /// Measure only layerize, on a tree of each of these sizes.
    rss_sizes: Option<Vec<u64>>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options { size_mib: 300, runs: 3, rss_sizes: None };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            let mut value =
                || inline.clone().or_else(|| args.next().cloned()).with_context(|| format!("{flag} needs a value"));
            match flag {
                "--size-mib" => options.size_mib = number(flag, &value()?)?,
                "--runs" => options.runs = number(flag, &value()?)?,
                "--rss-sizes" => {
                    let sizes = value()?.split(',').map(|s| number(flag, s.trim())).collect::<Result<Vec<u64>>>()?;
                    options.rss_sizes = Some(sizes);
                }
                other => bail!("unknown option `{other}` for `cargo xtask bench` (see `cargo xtask help`)"),
            }
        }
        Ok(options)
    }
}

/// A positive whole number.
fn number<T: std::str::FromStr + Default + PartialEq>(flag: &str, text: &str) -> Result<T> {
    match text.parse::<T>() {
        Ok(n) if n != T::default() => Ok(n),
        _ => bail!("{flag} wants a positive whole number, not `{text}`"),
    }
}

pub fn run(ws: &Workspace, args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    install::apt_packages(&["pigz", "time"])?;
    command::run(Command::new(&ws.cargo).args(["build", "--release", "-p", "layerize"]).current_dir(&ws.root))?;
    let bench_dir = ws.target.join("bench");
    let out_dir = bench_dir.join("out");
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let bench = Bench { ws, bench_dir, out_dir, layerize: ws.target.join("release").join("layerize") };
    match &options.rss_sizes {
        None => bench.compare(options.size_mib, options.runs),
        Some(sizes) => bench.rss(sizes, options.runs),
    }
}

#[derive(Debug)]
struct Bench<'a> {
    ws: &'a Workspace,
    bench_dir: PathBuf,
    out_dir: PathBuf,
    layerize: PathBuf,
}

impl Bench<'_> {
    fn path(&self, path: &Path) -> OsString {
        self.ws.display(path).into()
    }

    fn layerize(&self, tree: &Path, out: PathBuf) -> Timed {
        let mut source = self.path(tree);
        source.push(":/data");
        let argv = vec![self.path(&self.layerize), "layer".into(), "-f".into(), source, "-o".into(), self.path(&out)];
        Timed { name: "layerize layer".to_owned(), argv, out }
    }

    fn pipeline(&self, tree: &Path, gzip: &str, out: PathBuf) -> Timed {
        let script = format!(
            "tar -C {} -c . | {gzip} -6 | tee >(sha256sum >/dev/null) > {}",
            command::quote(&self.path(tree)),
            command::quote(&self.path(&out)),
        );
        Timed { name: format!("tar | {gzip} -6"), argv: vec!["bash".into(), "-c".into(), script.into()], out }
    }

    fn measure(&self, tool: &Timed, round: usize, runs: usize) -> Result<Sample> {
        let sample = tool.run(&self.ws.root, &self.out_dir.join("time.txt"))?;
        println!(
            "bench: run {round}/{runs} {:<16} {:>7.2} s {:>7.2} s CPU {:>7.1} MiB RSS {:>10} bytes out",
            tool.name,
            sample.wall_s,
            sample.cpu_s,
            sample.max_rss_kib as f64 / 1024.0,
            sample.out_bytes
        );
        Ok(sample)
    }

    fn publish(&self, name: &str, markdown: &str) -> Result<()> {
        let path = self.bench_dir.join(name);
        fs::write(&path, markdown).with_context(|| format!("cannot write {}", path.display()))?;
        println!("\n{markdown}\n(written to {})", self.ws.display(&path));
        Ok(())
    }

    /// All three tools, interleaved run by run so drift on a shared machine hits each alike.
    fn compare(&self, size_mib: u64, runs: usize) -> Result<()> {
        let tree = tree::ensure(&self.bench_dir, size_mib)?;
        let tools = [
            self.layerize(&tree.dir, self.out_dir.join("layerize.tar.gz")),
            self.pipeline(&tree.dir, "gzip", self.out_dir.join("gzip.tar.gz")),
            self.pipeline(&tree.dir, "pigz", self.out_dir.join("pigz.tar.gz")),
        ];
        settle()?;
        tree.warm()?;
        let machine = report::Machine::probe(self.ws);
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); tools.len()];
        for round in 1..=runs {
            for (tool, samples) in tools.iter().zip(&mut samples) {
                samples.push(self.measure(tool, round, runs)?);
            }
        }
        // Walls are compared to `tar | pigz`, the fastest everyday way to make a layer.
        self.publish("layer.md", &report::comparison(&machine, &tree, &tools, &samples, 2))
    }

    /// layerize alone on each size, to show its memory stays flat as the input grows.
    fn rss(&self, sizes: &[u64], runs: usize) -> Result<()> {
        let trees = sizes.iter().map(|&size| tree::ensure(&self.bench_dir, size)).collect::<Result<Vec<_>>>()?;
        settle()?;
        let machine = report::Machine::probe(self.ws);
        let mut rows = Vec::new();
        for tree in trees {
            let tool = self.layerize(&tree.dir, self.out_dir.join(format!("layerize-{}MiB.tar.gz", tree.size_mib)));
            tree.warm()?;
            let samples = (1..=runs).map(|round| self.measure(&tool, round, runs)).collect::<Result<Vec<_>>>()?;
            rows.push((tree, tool, samples));
        }
        self.publish("layer-rss.md", &report::rss(&machine, &rows))
    }
}

/// Writes dirty pages out (a just generated tree, say) so their writeback does not run during
/// the measurements.
fn settle() -> Result<()> {
    command::run(&mut Command::new("sync"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options> {
        Options::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_options() -> Result<()> {
        assert_eq!(parse(&[])?, Options { size_mib: 300, runs: 3, rss_sizes: None });
        assert_eq!(parse(&["--size-mib", "50", "--runs=1"])?, Options { size_mib: 50, runs: 1, rss_sizes: None });
        assert_eq!(parse(&["--rss-sizes", "100, 300,1000"])?.rss_sizes, Some(vec![100, 300, 1000]));
        assert!(parse(&["--runs", "0"]).is_err());
        assert!(parse(&["--runs"]).is_err());
        assert!(parse(&["--size-mib", "x"]).is_err());
        assert!(parse(&["--fast"]).is_err());
        Ok(())
    }
}
