//! A long-running service process (a registry, dockerd) with its private temp dir and log file,
//! stopped on drop by the PID this harness started, never by name.

use std::fs::{self, File};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::http;
use crate::tool;

/// How long a service gets to answer after it starts.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a service gets to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);
/// Lines of log shown when a service fails.
const LOG_TAIL: usize = 40;

/// Makes the private temp dir of a service named `name`; it holds the service's data and log.
pub fn service_dir(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("layerize-{name}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temp dir for {name}: {e}"))
}

/// A running service. Dropping it stops the process (SIGTERM, then SIGKILL) and removes its dir,
/// unless the thread is panicking: then the dir is kept and its path printed, for the log.
#[derive(Debug)]
pub struct Service {
    name: String,
    child: Child,
    stopped: bool,
    log: PathBuf,
    dir: Option<TempDir>,
}

impl Service {
    /// Starts `command` with stdout and stderr going to `NAME.log` in `dir`, and stdin closed.
    pub fn spawn(name: &str, dir: TempDir, mut command: Command) -> Service {
        let log = dir.path().join(format!("{name}.log"));
        let out = File::create(&log).unwrap_or_else(|e| panic!("cannot create the log {}: {e}", log.display()));
        let err = out.try_clone().unwrap_or_else(|e| panic!("cannot share the log {}: {e}", log.display()));
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} (`{}`): {e}", tool::display(&command)));
        Service { name: name.to_owned(), child, stopped: false, log, dir: Some(dir) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The service's private dir.
    pub fn dir(&self) -> &Path {
        match &self.dir {
            Some(dir) => dir.path(),
            None => unreachable!("the dir is only taken on drop"),
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the service has logged so far.
    pub fn log(&self) -> String {
        fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_else(|e| format!("<cannot read {}: {e}>", self.log.display()))
    }

    /// Waits until something accepts TCP connections on 127.0.0.1:`port`.
    pub fn wait_for_port(&mut self, port: u16) {
        self.wait_until(&format!("127.0.0.1:{port}"), READY_TIMEOUT, || {
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
        });
    }

    /// Waits until `GET url` gets any HTTP response, whatever its status.
    pub fn wait_for_http(&mut self, url: &str) {
        self.wait_until(url, READY_TIMEOUT, || http::get(url, &[]).is_ok());
    }

    /// Polls `ready` until it holds, panicking with the log if the process exits or `timeout`
    /// passes first. `what` names what is waited for in that message.
    pub fn wait_until(&mut self, what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                self.fail(&format!("exited with {status} before {what} answered"));
            }
            if ready() {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!("did not answer at {what} within {}s", timeout.as_secs()));
            }
            thread::sleep(POLL);
        }
    }

    /// Stops the process by its PID: SIGTERM, then SIGKILL if it has not exited in time. Waiting
    /// reaps it, so its PID cannot have been reused by anything else while we signal it.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if self.exit_status().is_some() {
            return;
        }
        let pid = self.pid().to_string();
        // Ask politely first: dockerd stops its containerd and unmounts on SIGTERM.
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if self.exit_status().is_some() {
                return;
            }
            thread::sleep(POLL);
        }
        eprintln!("{} (pid {pid}) ignored SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        match self.child.try_wait() {
            Ok(status) => status,
            Err(e) => panic!("cannot check on {} (pid {}): {e}", self.name, self.pid()),
        }
    }

    fn fail(&self, what: &str) -> ! {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n");
        panic!("{} {what}; its log is {}; last lines:\n{tail}", self.name, self.log.display());
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = self.dir.take() {
            if thread::panicking() {
                let kept = dir.keep();
                eprintln!("kept the dir of {} for inspection: {}", self.name, kept.display());
            }
        }
    }
}
