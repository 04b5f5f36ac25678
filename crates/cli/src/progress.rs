//! Progress on stderr, rendered from the copy's typed events: bars on a terminal, plain lines
//! for logs, JSON lines for tools, or nothing but errors (`-q`).
//!
//! The commands that move images (pull, push, copy, save, load, append) take
//! [`ProgressFlags`]; every [`CopyEvent`] and every step message they have goes through one
//! [`Progress`], whose renderer is chosen once. Stdout is never written here: it carries the
//! result only.

mod bars;
mod json;
mod plain;
mod tally;

use std::fmt::{self, Display};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use layerize_core::Digest;
use layerize_registry::copy::CopyEvent;
use layerize_registry::transport::{Retry, RetryHook};
use layerize_registry::BlobOutcome;

/// How progress is shown.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Bars when stderr is a terminal, plain lines otherwise.
    Auto,
    /// Bars: one per blob in flight and an overall one with rate and ETA (even off a terminal).
    Tty,
    /// One line per blob started and finished, and a summary line every few seconds.
    Plain,
    /// One JSON object per line: blob_start, blob_progress, blob_done, manifest, message.
    Json,
}

/// `-q` and `--progress`, for the commands that move images.
#[derive(clap::Args, Debug)]
pub struct ProgressFlags {
    /// Nothing on stderr but errors.
    #[arg(short, long, conflicts_with = "progress")]
    quiet: bool,
    /// How progress is shown on stderr.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = Mode::Auto)]
    progress: Mode,
}

impl ProgressFlags {
    /// The renderer these flags ask for, on this process's stderr.
    pub fn start(&self) -> Progress {
        if self.quiet {
            return Progress::with(Box::new(Quiet));
        }
        let mode = match self.progress {
            Mode::Auto if stderr_is_terminal() => Mode::Tty,
            Mode::Auto => Mode::Plain,
            other => other,
        };
        match mode {
            Mode::Tty => Progress::with(Box::new(bars::Bars::new())),
            Mode::Json => Progress::with(Box::new(json::Json::new(Box::new(std::io::stderr())))),
            Mode::Auto | Mode::Plain => Progress::with(Box::new(plain::Plain::new(Box::new(std::io::stderr())))),
        }
    }
}

/// A terminal that can draw bars: not a pipe or a file, and not `TERM=dumb`.
fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Where progress goes. `Copy`, so every job and callback of a command can hold it: there is
/// one renderer per process, as there is one stderr, and it lives as long as the process.
#[derive(Clone, Copy)]
pub struct Progress {
    render: &'static Mutex<Box<dyn Render>>,
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Progress").finish_non_exhaustive()
    }
}

impl Progress {
    /// Plain lines, or nothing with `quiet`: for commands that only have steps to tell.
    pub fn lines(quiet: bool) -> Progress {
        if quiet {
            Progress::with(Box::new(Quiet))
        } else {
            Progress::with(Box::new(plain::Plain::new(Box::new(std::io::stderr()))))
        }
    }

    fn with(render: Box<dyn Render>) -> Progress {
        let progress = Progress { render: Box::leak(Box::new(Mutex::new(render))) };
        // The first renderer of the process is the one retries are told to (see `retry_hook`).
        let _ = CURRENT.set(progress);
        progress
    }

    /// A hook for the registry transport: every retry reaches the process's renderer.
    pub fn retry_hook() -> RetryHook {
        Arc::new(|retry: &Retry| {
            if let Some(progress) = CURRENT.get() {
                progress.render().retry(retry);
            }
        })
    }

    fn render(&self) -> std::sync::MutexGuard<'_, Box<dyn Render>> {
        // A renderer that panicked mid-line is still fit to write the next one.
        self.render.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A message for the user (what is being done, a warning).
    pub fn step(&self, message: impl Display) {
        self.render().message(&message.to_string());
    }

    /// A copy of `blob_bytes` (the plan's blobs) starts: the overall total.
    pub fn begin(&self, blob_bytes: u64) {
        self.render().begin(blob_bytes);
    }

    /// The copy begun last is over (done or failed): bars are finished, a summary written.
    pub fn end(&self) {
        self.render().end();
    }

    /// One event of a copy.
    pub fn event(&self, event: CopyEvent) {
        let mut render = self.render();
        match event {
            CopyEvent::Started { digest, total } => render.blob_started(&digest, total),
            CopyEvent::Moved { digest, done, total } => render.blob_moved(&digest, done, total),
            CopyEvent::Blob { digest, size, outcome } => render.blob_done(&digest, size, outcome),
            CopyEvent::Manifest { digest, tag } => render.manifest(&digest, tag.as_deref()),
        }
    }
}

/// The renderer of this process, once one was made.
static CURRENT: OnceLock<Progress> = OnceLock::new();

/// What a renderer is told. Blob events come in the order the copy makes them: `blob_started`
/// before the first `blob_moved` of a blob, `blob_done` last (without a start for a blob that
/// did not move, or whose sink reports no bytes).
trait Render: Send {
    fn message(&mut self, text: &str);
    fn begin(&mut self, blob_bytes: u64);
    fn blob_started(&mut self, digest: &Digest, total: u64);
    /// `done` is cumulative: bytes of the blob moved so far.
    fn blob_moved(&mut self, digest: &Digest, done: u64, total: u64);
    fn blob_done(&mut self, digest: &Digest, size: u64, outcome: BlobOutcome);
    fn manifest(&mut self, digest: &Digest, tag: Option<&str>);
    fn end(&mut self);
    /// A request or transfer is tried again.
    fn retry(&mut self, retry: &Retry) {
        self.message(&retry_line(retry));
    }
}

/// `-q`: nothing (errors are printed by `main`).
struct Quiet;

impl Render for Quiet {
    fn message(&mut self, _: &str) {}
    fn begin(&mut self, _: u64) {}
    fn blob_started(&mut self, _: &Digest, _: u64) {}
    fn blob_moved(&mut self, _: &Digest, _: u64, _: u64) {}
    fn blob_done(&mut self, _: &Digest, _: u64, _: BlobOutcome) {}
    fn manifest(&mut self, _: &Digest, _: Option<&str>) {}
    fn end(&mut self) {}
}

/// How a blob got into place, in words (plain lines and bars).
fn outcome_words(outcome: BlobOutcome) -> &'static str {
    match outcome {
        BlobOutcome::AlreadyThere => "already there",
        BlobOutcome::Mounted => "mounted",
        BlobOutcome::Uploaded => "copied",
    }
}

/// The line for a blob in place, as plain output and bars (above them) write it.
fn blob_done_line(digest: &Digest, size: u64, outcome: BlobOutcome) -> String {
    format!("blob {digest}: {} ({size} bytes)", outcome_words(outcome))
}

/// The line for a retry, as plain output and bars write it.
fn retry_line(retry: &Retry) -> String {
    format!("retrying ({}, try {}): {}", retry.registry, retry.attempt, retry.reason)
}

/// The line for a manifest put.
fn manifest_line(digest: &Digest, tag: Option<&str>) -> String {
    match tag {
        Some(tag) => format!("manifest {digest}: put as {tag}"),
        None => format!("manifest {digest}: put"),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A writer whose bytes a test reads afterwards.
    #[derive(Clone, Default)]
    pub struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        pub fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8")
        }
    }

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
