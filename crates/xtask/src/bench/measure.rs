//! One timed run of a command under GNU time: wall seconds, max RSS and the output's size.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::command;

/// GNU time, not the shell keyword: only it reports the max RSS.
pub const TIME: &str = "/usr/bin/time";
/// Wall seconds, max RSS in KiB, then user and system CPU seconds: CPU time tells the work
/// done from the waiting caused by other load on a shared machine.
pub const TIME_FORMAT: &str = "%e %M %U %S";

/// A command that writes one output file, measured as a whole.
#[derive(Debug)]
pub struct Timed {
    pub name: String,
    pub argv: Vec<OsString>,
    pub out: PathBuf,
}

/// What one run took.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub wall_s: f64,
    pub max_rss_kib: u64,
    /// User plus system CPU seconds, of all processes for a pipeline.
    pub cpu_s: f64,
    pub out_bytes: u64,
}

impl Timed {
    /// The command line without the time wrapper, as run from `cwd`.
    pub fn shown(&self) -> String {
        self.argv.iter().map(|a| command::quote(a)).collect::<Vec<_>>().join(" ")
    }

    /// Runs the command once from `cwd`, with its time report written to `time_file`.
    pub fn run(&self, cwd: &Path, time_file: &Path) -> Result<Sample> {
        let _ = fs::remove_file(&self.out);
        let _ = fs::remove_file(time_file);
        let out = Command::new(TIME)
            .args(["-f", TIME_FORMAT, "-o"])
            .arg(time_file)
            .args(&self.argv)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot start {TIME} (Debian package `time`)"))?;
        if !out.status.success() {
            bail!("`{}` failed ({}): {}", self.shown(), out.status, String::from_utf8_lossy(&out.stderr).trim());
        }
        let report = fs::read_to_string(time_file).with_context(|| format!("cannot read {}", time_file.display()))?;
        let (wall_s, max_rss_kib, cpu_s) = parse_time(&report)?;
        let out_bytes = fs::metadata(&self.out)
            .with_context(|| format!("`{}` wrote no {}", self.shown(), self.out.display()))?
            .len();
        Ok(Sample { wall_s, max_rss_kib, cpu_s, out_bytes })
    }
}

/// The last line of GNU time's report in [`TIME_FORMAT`]: "12.34 5678 20.01 0.52" (earlier
/// lines, if any, are its notes about the exit status).
fn parse_time(report: &str) -> Result<(f64, u64, f64)> {
    let line = report.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [wall, rss, user, system] = fields[..] else {
        bail!("cannot read GNU time's report {report:?}");
    };
    let seconds = |text: &str| text.parse::<f64>().with_context(|| format!("bad seconds `{text}` in {report:?}"));
    let rss = rss.parse().with_context(|| format!("bad max RSS `{rss}` in {report:?}"))?;
    Ok((seconds(wall)?, rss, seconds(user)? + seconds(system)?))
}

/// The median of some values (the mean of the middle two for an even count).
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gnu_time_reports() -> Result<()> {
        assert_eq!(parse_time("2.31 12345 4.00 0.50\n")?, (2.31, 12345, 4.5));
        assert_eq!(parse_time("Command exited with non-zero status 1\n0.01 2048 0.25 0.25\n")?, (0.01, 2048, 0.5));
        assert!(parse_time("").is_err());
        assert!(parse_time("2.31 12345\n").is_err());
        assert!(parse_time("2.31 12345 x 0.1\n").is_err());
        Ok(())
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median([4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median([]).is_nan());
    }
}
