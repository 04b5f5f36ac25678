//! Progress on stderr: one line per step, so logs stay readable when stderr is not a tty.

/// Prints progress unless `--quiet` was given.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub quiet: bool,
}

impl Progress {
    pub fn step(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }
}
