//! The benchmark's findings as markdown: the machine, the input, the tables and the exact
//! commands, so a reader can judge and repeat them.

use std::fmt::Write as _;
use std::process::Command;

use super::measure::{median, Sample, Timed, TIME, TIME_FORMAT};
use super::tree::Tree;
use crate::{command, Workspace};

const MIB: f64 = (1u64 << 20) as f64;

/// What the numbers depend on besides the code.
#[derive(Debug)]
pub struct Machine {
    nproc: String,
    cpu: String,
    load: String,
    revision: String,
    versions: Vec<String>,
}

impl Machine {
    pub fn probe(ws: &Workspace) -> Machine {
        let first_line = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .output()
                .ok()
                .map(|out| {
                    // pigz 2.6 prints its version on stderr.
                    let text = [out.stdout, out.stderr].concat();
                    String::from_utf8_lossy(&text).lines().next().unwrap_or_default().trim().to_owned()
                })
                .filter(|line| !line.is_empty())
                .unwrap_or_else(|| format!("{program}: unknown version"))
        };
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let revision =
            command::output(Command::new("git").args(["-C"]).arg(&ws.root).args(["describe", "--always", "--dirty"]))
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned());
        Machine {
            nproc: command::output(&mut Command::new("nproc"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "?".to_owned()),
            cpu,
            load: std::fs::read_to_string("/proc/loadavg")
                .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
            revision,
            versions: vec![
                first_line("tar", &["--version"]),
                first_line("gzip", &["--version"]),
                first_line("pigz", &["--version"]),
            ],
        }
    }

    fn describe(&self, out: &mut String) {
        let _ = writeln!(out, "- `nproc`: {}", self.nproc);
        let _ = writeln!(out, "- CPU (`model name` in /proc/cpuinfo): {}", self.cpu);
        let _ = writeln!(out, "- load average (1, 5, 15 min) before the runs: {}", self.load);
        let _ = writeln!(out, "- layerize: release build at `{}`", self.revision);
        let _ = writeln!(out, "- {}", self.versions.join("; "));
    }
}

fn describe_tree(tree: &Tree) -> String {
    format!(
        "`{}`: {} MiB, half random bytes ({} files of 1–8 MiB), half text ({} files of 4–512 KiB)",
        tree.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        tree.size_mib,
        tree.random_files,
        tree.text_files,
    )
}

/// Text for a markdown table cell, where `|` would end the cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn max_rss_mib(samples: &[Sample]) -> f64 {
    samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0
}

fn out_mb(samples: &[Sample]) -> f64 {
    samples.last().map_or(0, |s| s.out_bytes) as f64 / 1e6
}

fn commands(out: &mut String, tools: &[&Timed]) {
    let _ = writeln!(out, "\nCommands, from the workspace root, each run under `{TIME} -f '{TIME_FORMAT}' -o FILE`:\n");
    let _ = writeln!(out, "```");
    for tool in tools {
        let _ = writeln!(out, "{}", tool.shown());
    }
    let _ = writeln!(out, "```");
}

fn all_runs(out: &mut String, label: &str, rows: &[(&str, &[Sample])]) {
    let _ = writeln!(out, "\nAll runs:\n");
    let _ = writeln!(out, "| {label} | wall s per run | CPU s per run | max RSS MiB per run |");
    let _ = writeln!(out, "|---|---|---|---|");
    for (name, samples) in rows {
        let walls: Vec<String> = samples.iter().map(|s| format!("{:.2}", s.wall_s)).collect();
        let cpu: Vec<String> = samples.iter().map(|s| format!("{:.2}", s.cpu_s)).collect();
        let rss: Vec<String> = samples.iter().map(|s| format!("{:.1}", s.max_rss_kib as f64 / 1024.0)).collect();
        let _ = writeln!(out, "| {} | {} | {} | {} |", cell(name), walls.join(", "), cpu.join(", "), rss.join(", "));
    }
}

/// `layerize layer` beside the pipelines; `samples[i]` are the runs of `tools[i]`, and
/// `reference` is the index of the tool the walls are compared to.
pub fn comparison(
    machine: &Machine,
    tree: &Tree,
    tools: &[Timed],
    samples: &[Vec<Sample>],
    reference: usize,
) -> String {
    let mut out = String::new();
    let runs = samples.first().map_or(0, Vec::len);
    let _ = writeln!(out, "## `layerize layer` vs `tar | gzip` and `tar | pigz`\n");
    let _ = writeln!(out, "Input {}; runs of each: {runs}, interleaved; page cache warm.\n", describe_tree(tree));
    machine.describe(&mut out);
    let input_mib = tree.size_mib as f64;
    let base = median(samples[reference].iter().map(|s| s.wall_s));
    let _ = writeln!(
        out,
        "\n| tool | median wall s | MiB/s | median CPU s | max RSS MiB | output MB | output / input | wall vs {} |",
        cell(&tools[reference].name)
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (tool, samples) in tools.iter().zip(samples) {
        let wall = median(samples.iter().map(|s| s.wall_s));
        let _ = writeln!(
            out,
            "| {} | {wall:.2} | {:.0} | {:.2} | {:.1} | {:.1} | {:.3} | {:.2}× |",
            cell(&tool.name),
            input_mib / wall,
            median(samples.iter().map(|s| s.cpu_s)),
            max_rss_mib(samples),
            out_mb(samples),
            out_mb(samples) * 1e6 / (input_mib * MIB),
            wall / base,
        );
    }
    let _ = writeln!(
        out,
        "\nCPU s is user + system time of all processes (for a pipeline, of those bash waited for); \
         wall above CPU / nproc is waiting (on other load, or on the disk). \
         Max RSS is the largest over the runs. For a pipeline it is GNU time's max RSS of \
         `bash -c`, which is that of the largest single process bash waited for (tar, gzip or \
         pigz, tee), not the pipeline's sum; bash does not wait for the `>(sha256sum)` process \
         substitution, so sha256sum (a few MiB, finishing with tee) is in neither the RSS nor, \
         beyond its last block, the wall time. layerize also hashes the uncompressed tar (the \
         diffID), which the pipelines do not."
    );
    commands(&mut out, &tools.iter().collect::<Vec<_>>());
    let rows: Vec<(&str, &[Sample])> =
        tools.iter().zip(samples).map(|(t, s)| (t.name.as_str(), s.as_slice())).collect();
    all_runs(&mut out, "tool", &rows);
    out
}

/// `layerize layer` alone on trees of several sizes: memory should not follow the input.
pub fn rss(machine: &Machine, rows: &[(Tree, Timed, Vec<Sample>)]) -> String {
    let mut out = String::new();
    let runs = rows.first().map_or(0, |r| r.2.len());
    let _ = writeln!(out, "## `layerize layer`: max RSS by input size\n");
    let _ = writeln!(out, "Inputs: generated trees, half random bytes (1–8 MiB files), half text (4–512 KiB files); runs of each: {runs}; page cache warm.\n");
    machine.describe(&mut out);
    let _ = writeln!(out, "\n| input MiB | files | median wall s | MiB/s | median CPU s | max RSS MiB | output MB |");
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|");
    for (tree, _, samples) in rows {
        let wall = median(samples.iter().map(|s| s.wall_s));
        let _ = writeln!(
            out,
            "| {} | {} | {wall:.2} | {:.0} | {:.2} | {:.1} | {:.1} |",
            tree.size_mib,
            tree.random_files + tree.text_files,
            tree.size_mib as f64 / wall,
            median(samples.iter().map(|s| s.cpu_s)),
            max_rss_mib(samples),
            out_mb(samples),
        );
    }
    commands(&mut out, &rows.iter().map(|r| &r.1).collect::<Vec<_>>());
    let names: Vec<String> = rows.iter().map(|r| format!("{} MiB", r.0.size_mib)).collect();
    let detail: Vec<(&str, &[Sample])> = names.iter().zip(rows).map(|(n, r)| (n.as_str(), r.2.as_slice())).collect();
    all_runs(&mut out, "input", &detail);
    out
}
