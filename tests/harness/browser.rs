//! Headless Chromium driven through ChromeDriver (WebDriver), as a person would use the page:
//! typing, picking files, clicking, reading what the page shows, downloading files, and
//! screenshots of each step under `target/screenshots/` for people to look at.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::process::{service_dir, Service};
use crate::{free_port, require_tool, target_dir};

/// A browser session; ChromeDriver (and with it Chromium) stops when this is dropped.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    runtime: tokio::runtime::Runtime,
    shots: PathBuf,
    step: usize,
    downloads: PathBuf,
    _driver: Service,
}

/// How long the page may take for one step (a layer build of test files, a push).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

impl Browser {
    /// Starts ChromeDriver on a free port and a headless Chromium session with a fresh
    /// profile. Screenshots go to `target/screenshots/<name>/`.
    pub fn start(name: &str) -> Browser {
        require_tool("chromedriver");
        require_tool("chromium");
        let port = free_port();
        let dir = service_dir("chromedriver");
        let profile = dir.path().join("profile");
        let downloads = dir.path().join("downloads");
        std::fs::create_dir_all(&downloads).expect("download dir");
        let mut command = Command::new("chromedriver");
        command.arg(format!("--port={port}")).arg("--allowed-ips=127.0.0.1");
        let mut driver = Service::spawn("chromedriver", dir, command);
        driver.wait_for_port(port);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        // Two crypto providers are compiled in (see the workspace Cargo.toml): name one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,2000",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true
                }
            }
        });
        let caps = match caps {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object"),
        };
        let client = runtime
            .block_on(
                ClientBuilder::rustls()
                    .expect("rustls")
                    .capabilities(caps)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .unwrap_or_else(|e| panic!("cannot start a Chromium session: {e}\nchromedriver log:\n{}", driver.log()));
        let shots = target_dir().join("screenshots").join(name);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        Browser { client, runtime, shots, step: 0, downloads, _driver: driver }
    }

    pub fn goto(&self, url: &str) {
        self.runtime.block_on(self.client.goto(url)).unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.runtime
            .block_on(self.client.wait().at_most(STEP_TIMEOUT).for_element(Locator::Css(css)))
            .unwrap_or_else(|e| panic!("no element {css} on the page: {e}\npage error: {}", self.page_error()))
    }

    /// Types `text` into the input `css` (after clearing it).
    pub fn fill(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.runtime
            .block_on(async {
                el.clear().await?;
                el.send_keys(text).await
            })
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Gives a file input one file or folder (a folder for `webkitdirectory` inputs).
    pub fn pick(&self, css: &str, path: &Path) {
        let el = self.find(css);
        self.runtime
            .block_on(el.send_keys(&path.display().to_string()))
            .unwrap_or_else(|e| panic!("picking {} in {css}: {e}", path.display()));
    }

    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.runtime.block_on(el.click()).unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Chooses the `<option>` with `value` in the `<select>` `css`.
    pub fn select(&self, css: &str, value: &str) {
        let el = self.find(css);
        self.runtime.block_on(el.select_by_value(value)).unwrap_or_else(|e| panic!("selecting {value} in {css}: {e}"));
    }

    /// Runs JavaScript in the page and returns its result.
    pub fn eval(&self, script: &str) -> Value {
        self.runtime.block_on(self.client.execute(script, vec![])).unwrap_or_else(|e| panic!("running {script}: {e}"))
    }

    /// The text of the page's error box, if it shows one.
    pub fn page_error(&self) -> String {
        self.runtime
            .block_on(
                self.client
                    .execute("const e = document.getElementById('error'); return e ? e.textContent : '';", vec![]),
            )
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Waits until `css` exists with non-empty text and returns it; fails at once, with the
    /// page's words, if the page shows an error instead.
    pub fn wait_text(&self, css: &str) -> String {
        let start = Instant::now();
        let script = format!("const e = document.querySelector({css:?}); return e ? e.textContent : null;");
        loop {
            let error = self.page_error();
            if !error.is_empty() {
                panic!("the page shows an error while waiting for {css}: {error}");
            }
            if let Some(text) = self.eval(&script).as_str().filter(|t| !t.trim().is_empty()) {
                return text.trim().to_owned();
            }
            if start.elapsed() > STEP_TIMEOUT {
                panic!("{css} did not appear within {STEP_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the page shows an error and returns its text.
    pub fn wait_error(&self) -> String {
        let start = Instant::now();
        loop {
            let error = self.page_error();
            if !error.is_empty() {
                return error;
            }
            if start.elapsed() > STEP_TIMEOUT {
                panic!("no error appeared within {STEP_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `css` shows exactly `text` (trimmed); fails with the page's error if it shows one.
    pub fn wait_for_text(&self, css: &str, text: &str) {
        let script = format!("const e = document.querySelector({css:?}); return e ? e.textContent.trim() : '';");
        self.wait_until(&script, &Value::from(text), &format!("{css} to show {text}"));
    }

    /// Waits until the page has exactly `n` elements matching `css`.
    pub fn wait_count(&self, css: &str, n: u64) {
        let script = format!("return document.querySelectorAll({css:?}).length;");
        self.wait_until(&script, &Value::from(n), &format!("{n} of {css}"));
    }

    /// Polls `script` until it returns `wanted`; fails at once if the page shows an error.
    /// Waits until the element `css` says its work is done (`data-done="true"`, as the page's
    /// listings, merges and downloads do), then returns its text.
    pub fn wait_done(&self, css: &str) -> String {
        self.wait_until(
            &format!("return document.querySelector({css:?})?.dataset.done ?? '';"),
            &Value::from("true"),
            &format!("{css} to be done"),
        );
        self.wait_text(css)
    }

    pub fn wait_until(&self, script: &str, wanted: &Value, what: &str) {
        let start = Instant::now();
        loop {
            let error = self.page_error();
            if !error.is_empty() {
                panic!("the page shows an error while waiting for {what}: {error}");
            }
            let got = self.eval(script);
            if &got == wanted {
                return;
            }
            if start.elapsed() > STEP_TIMEOUT {
                panic!("waited {STEP_TIMEOUT:?} for {what}; last saw {got}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Where the browser saves downloads (empty at the start of the session).
    pub fn downloads(&self) -> &Path {
        &self.downloads
    }

    /// Waits until the browser has finished downloading `name` (it is in the download
    /// directory and no `.crdownload` is left) and returns its path; fails at once if the page
    /// shows an error.
    pub fn wait_download(&self, name: &str) -> PathBuf {
        let start = Instant::now();
        let path = self.downloads.join(name);
        loop {
            let error = self.page_error();
            if !error.is_empty() {
                panic!("the page shows an error while waiting for the download {name}: {error}");
            }
            let partial = std::fs::read_dir(&self.downloads)
                .map(|d| d.filter_map(Result::ok).any(|e| e.file_name().to_string_lossy().ends_with(".crdownload")))
                .unwrap_or(false);
            if path.is_file() && !partial {
                return path;
            }
            if start.elapsed() > STEP_TIMEOUT {
                let seen: Vec<String> = std::fs::read_dir(&self.downloads)
                    .map(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                    .unwrap_or_default();
                panic!("{name} was not downloaded within {STEP_TIMEOUT:?}; the download directory holds {seen:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves a screenshot `NN-step.png` of the whole window.
    pub fn screenshot(&mut self, step: &str) -> PathBuf {
        self.step += 1;
        let png = self.runtime.block_on(self.client.screenshot()).unwrap_or_else(|e| panic!("screenshot: {e}"));
        let path = self.shots.join(format!("{:02}-{step}.png", self.step));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.runtime.block_on(client.close());
    }
}
