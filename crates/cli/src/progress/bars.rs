//! Bars on a terminal (indicatif): one per blob in flight, with its bytes, and an overall one
//! with bytes, rate and time left (a spinner when the total is not known up front). Finished
//! blobs and messages are written above the bars, so the scrollback keeps them.

use std::io::{self, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use layerize_core::Digest;
use layerize_registry::BlobOutcome;

use super::tally::Tally;
use super::{blob_done_line, manifest_line, stderr_is_terminal, Render};

const OVERALL: &str = "{spinner:.green} [{elapsed_precise}] [{wide_bar:.cyan/blue}] {bytes}/{total_bytes} ({binary_bytes_per_sec}, ETA {eta})";
const OVERALL_UNKNOWN: &str = "{spinner:.green} [{elapsed_precise}] {bytes} ({binary_bytes_per_sec})";
const BLOB: &str = "  {prefix:.bold} [{bar:40.cyan/blue}] {bytes}/{total_bytes}";
const CHARS: &str = "=> ";

#[derive(Debug)]
pub struct Bars {
    multi: MultiProgress,
    overall: Option<ProgressBar>,
    blobs: Vec<(Digest, ProgressBar)>,
    tally: Tally,
}

impl Bars {
    pub fn new() -> Bars {
        // Asked for bars off a terminal (`--progress tty` into a pipe): draw them anyway.
        let target = if stderr_is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::term_like_with_hz(Box::new(AnsiStderr), 20)
        };
        Bars { multi: MultiProgress::with_draw_target(target), overall: None, blobs: Vec::new(), tally: Tally::new() }
    }

    /// The overall bar, made on first use: with a total if a plan gave one, else a spinner.
    fn overall(&mut self) -> &ProgressBar {
        let expected = self.tally.expected();
        let multi = &self.multi;
        self.overall.get_or_insert_with(|| {
            let bar = match expected {
                Some(total) => ProgressBar::new(total).with_style(style(OVERALL)),
                None => ProgressBar::new_spinner().with_style(style(OVERALL_UNKNOWN)),
            };
            let bar = multi.add(bar);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        })
    }

    fn update_overall(&mut self) {
        let moved = self.tally.moved_bytes();
        let expected = self.tally.expected();
        let overall = self.overall();
        if let Some(total) = expected {
            overall.set_length(total);
        }
        overall.set_position(moved);
    }

    fn println(&self, text: &str) {
        // A closed stderr is no reason to fail the transfer.
        let _ = self.multi.println(text);
    }

    fn finish(&mut self) {
        for (_, bar) in self.blobs.drain(..) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        if let Some(overall) = self.overall.take() {
            overall.finish();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    // The templates are constants, checked by the tests below.
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars(CHARS)
}

/// `sha256:0123456789ab`: enough to tell blobs apart on one screen.
fn short(digest: &Digest) -> String {
    let hex = digest.hex();
    format!("{}:{}", digest.algorithm(), &hex[..hex.len().min(12)])
}

impl Render for Bars {
    fn message(&mut self, text: &str) {
        self.println(text);
    }

    fn begin(&mut self, blob_bytes: u64) {
        self.finish();
        self.tally.begin(blob_bytes);
        self.update_overall();
    }

    fn blob_started(&mut self, digest: &Digest, total: u64) {
        self.tally.started(digest);
        self.update_overall();
        let overall = self.overall().clone();
        let bar = ProgressBar::new(total).with_style(style(BLOB)).with_prefix(short(digest));
        let bar = self.multi.insert_before(&overall, bar);
        self.blobs.push((digest.clone(), bar));
    }

    fn blob_moved(&mut self, digest: &Digest, done: u64, _total: u64) {
        self.tally.moved(digest, done);
        if let Some((_, bar)) = self.blobs.iter().find(|(d, _)| d == digest) {
            bar.set_position(done);
        }
        self.update_overall();
    }

    fn blob_done(&mut self, digest: &Digest, size: u64, outcome: BlobOutcome) {
        self.tally.done(digest, size, outcome);
        if let Some(i) = self.blobs.iter().position(|(d, _)| d == digest) {
            let (_, bar) = self.blobs.remove(i);
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.update_overall();
        self.println(&blob_done_line(digest, size, outcome));
    }

    fn manifest(&mut self, digest: &Digest, tag: Option<&str>) {
        self.println(&manifest_line(digest, tag));
        // A tag is put last, once every blob is in place.
        if tag.is_some() {
            self.finish();
        }
    }

    fn end(&mut self) {
        self.finish();
    }
}

/// Stderr as a terminal that understands ANSI cursor moves, whatever it really is.
#[derive(Debug)]
struct AnsiStderr;

impl AnsiStderr {
    fn write(&self, s: &str) -> io::Result<()> {
        io::stderr().lock().write_all(s.as_bytes())
    }

    /// Moves the cursor `n` cells in the direction `code` names (A up, B down, C right, D left).
    fn cursor(&self, n: usize, code: char) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}{code}"))
    }
}

impl TermLike for AnsiStderr {
    fn width(&self) -> u16 {
        std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(100)
    }

    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        self.cursor(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        self.cursor(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        self.cursor(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        self.cursor(n, 'D')
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.write(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.write(s)
    }

    fn clear_line(&self) -> io::Result<()> {
        self.write("\r\x1b[2K")
    }

    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        for template in [OVERALL, OVERALL_UNKNOWN, BLOB] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }

    #[test]
    fn short_digest() {
        let digest = Digest::sha256(b"");
        assert_eq!(short(&digest), "sha256:e3b0c44298fc");
    }
}
