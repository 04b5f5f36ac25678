//! Step 3: build the layer in a Web Worker, then compute the new config and manifest here.

use layerize_core::config::History;
use layerize_core::layer::gzip::Profile;
use layerize_core::layer::{MODE_EXEC, MODE_FILE};
use layerize_core::mutate::{self, NewLayer};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::app::SectionError;
use crate::page::api::{self, Logins};
use crate::page::failure::Section;
use crate::page::layer_build::{self, Event};
use crate::page::state::build::{Built, Progress};
use crate::page::state::{BaseState, BuildState, DraftState, Failures};
use crate::protocol::{WireEntry, WireKind};

/// Now, to the second, as RFC 3339 (the CLI's `--created` format).
fn now() -> String {
    let iso: String = js_sys::Date::new_0().to_iso_string().into();
    format!("{}Z", iso.get(..19).unwrap_or(&iso))
}

fn pretty(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned())
}

fn shell_quote(s: &str) -> String {
    if s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-:@=,".contains(&b)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The CLI command that gives the same image (files at `./<relative path>`): made from the
/// base and draft as they are, which are what `built` was made from while it is shown.
fn cli_command(base: BaseState, draft: DraftState, built: &Built) -> String {
    let prefix = draft.prefix().get_untracked();
    let mut parts = vec!["layerize append".to_owned()];
    // A base opened from a tar is that file for the CLI too (docker-archive: reads both layouts).
    let base_arg = match base.archive().get_untracked() {
        Some(archive) => format!("docker-archive:./{}", archive.name),
        None => base.reference().get_untracked().map(|r| r.to_string()).unwrap_or_default(),
    };
    parts.push(shell_quote(&base_arg));
    if built.all.is_some() {
        parts.push("--all-platforms".to_owned());
    } else if let Some(image) = base.image().get_untracked() {
        if matches!(base.top().get_untracked(), Some(layerize_core::manifest::Manifest::Index(_))) {
            parts.push(format!("--platform {}", image.config.platform()));
        }
    }
    // Every file's mode is given: the CLI would take it from the disk, the page from its tick.
    draft.rows().with_untracked(|rows| {
        for row in rows {
            let dest = row.destination(&prefix);
            parts.push(format!("-f {}", shell_quote(&format!("./{}:{dest}", row.rel))));
            let mode = if row.exec { MODE_EXEC } else { MODE_FILE };
            parts.push(format!("--chmod {}", shell_quote(&format!("{dest}={mode:04o}"))));
        }
    });
    for d in draft.deletes().get_untracked() {
        parts.push(format!("--delete {}", shell_quote(&d)));
    }
    for (flag, value) in draft.edits().get_untracked().flags() {
        parts.push(format!("{flag} {}", shell_quote(&value)));
    }
    parts.push(format!("--created {}", built.created));
    parts.push(format!("--history {}", shell_quote(&built.history)));
    parts.push("-t TARGET".to_owned());
    parts.join(" \\\n    ")
}

/// What a build reads from context.
#[derive(Clone, Copy, Debug)]
struct Builder {
    base: BaseState,
    draft: DraftState,
    build: BuildState,
    logins: RwSignal<Logins>,
    failures: Failures,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            base: expect_context(),
            draft: expect_context(),
            build: expect_context(),
            logins: expect_context(),
            failures: expect_context(),
        }
    }

    /// Builds the layer of the draft on the base, as they are now.
    fn start(self) {
        let Builder { base, draft, build, logins, failures } = self;
        failures.clear();
        let Some(image) = base.image().get_untracked() else {
            return failures.fail(Section::Build, "load a base image first");
        };
        let prefix = draft.prefix().get_untracked();
        let rows = draft.rows().get_untracked();
        let deletes = draft.deletes().get_untracked();
        if rows.is_empty() && deletes.is_empty() {
            return failures.fail(Section::Build, "add files or paths to delete first");
        }
        let mut files = Vec::with_capacity(rows.len());
        let mut entries = Vec::new();
        for row in &rows {
            let index = files.len() as u32;
            files.push(row.file.clone());
            let mode = if row.exec { MODE_EXEC } else { MODE_FILE };
            entries.push(WireEntry {
                path: row.destination(&prefix),
                kind: WireKind::File { mode, size: row.size, index },
            });
        }
        entries.extend(deletes.iter().map(|d| WireEntry { path: d.clone(), kind: WireKind::Whiteout }));
        let created = now();
        let changes = match draft.edits().get_untracked().changes(&created) {
            Ok(c) => c,
            Err(e) => return failures.fail(Section::Build, format!("config: {e}")),
        };
        let history = format!("layerize page: {} files, {} deletions", rows.len(), deletes.len());
        let run = build.start(rows.iter().map(|r| r.size).sum());
        let started = js_sys::Date::now();
        let workers = build.workers.get_untracked();
        // The CLI's default profile, so `layerize layer` of the same files gives the same blob.
        let gzip = Profile::default();
        let all_of = base.all_platforms_of();
        let base_ref = base.reference().get_untracked();
        let logins = logins.get_untracked();
        let failed = run.clone();
        let result = layer_build::start(entries, files, 0, gzip, workers, move |event| match event {
            Event::Progress { done, total } => {
                let seconds = (js_sys::Date::now() - started) / 1000.0;
                let mbps = if seconds > 0.0 { done as f64 / 1e6 / seconds } else { 0.0 };
                build.progress(&run, Progress { done, total, mbps });
            }
            Event::Failed(e) => {
                if build.failed(&run) {
                    failures.fail(Section::Build, format!("building the layer failed: {e}"));
                }
            }
            Event::Built { digests, blob, millis, wasm_memory } => {
                let diff_id = digests.diff_id.to_string();
                let tar_size = digests.tar_size;
                let layer = NewLayer {
                    digests,
                    history: History {
                        created: Some(created.clone()),
                        created_by: Some(history.clone()),
                        comment: gzip.history_comment(),
                        ..Default::default()
                    },
                };
                let appended =
                    match mutate::append(&image.manifest, &image.config, std::slice::from_ref(&layer), &changes) {
                        Ok(appended) => appended,
                        Err(e) => {
                            if build.failed(&run) {
                                failures.fail(Section::Build, e.to_string());
                            }
                            return;
                        }
                    };
                let built = Built {
                    appended,
                    diff_id,
                    created: created.clone(),
                    history: history.clone(),
                    millis,
                    tar_size,
                    wasm_memory,
                    workers,
                    all: None,
                };
                let (Some(index), Some(reference)) = (all_of.clone(), base_ref.clone()) else {
                    return build.finish(&run, built, blob);
                };
                // Every platform's config and manifest, rewritten over the one layer.
                let (logins, changes, run) = (logins.clone(), changes.clone(), run.clone());
                spawn_local(async move {
                    match api::append_all(&reference, &logins, &index, &layer, &changes).await {
                        Ok(all) => build.finish(&run, Built { all: Some(all), ..built }, blob),
                        Err(e) => {
                            if build.failed(&run) {
                                failures
                                    .fail(Section::Build, format!("appending to every platform of {reference}: {e}"));
                            }
                        }
                    }
                });
            }
        });
        if let Err(e) = result {
            if build.failed(&failed) {
                failures.fail(Section::Build, e.to_string());
            }
        }
    }
}

#[component]
pub fn BuildSection() -> impl IntoView {
    let builder = Builder::new();
    let Builder { base, draft, build, .. } = builder;
    let progress = move || {
        build.progress_shown().map(|Progress { done, total, mbps }| {
            let pct = if total == 0 { 100.0 } else { done as f64 * 100.0 / total as f64 };
            view! { <div id="build-progress"><progress max="100" value=pct /> {format!(" {done} / {total} bytes, {mbps:.1} MB/s")}</div> }
        })
    };
    view! {
        <section id="build">
            <h2>"3. Build the layer"</h2>
            <label>
                "Workers "
                <input id="build-workers" type="number" min="1" max="16" prop:value=move || build.workers.get().to_string()
                    on:input=move |ev| {
                        if let Ok(n) = event_target_value(&ev).trim().parse::<u32>() {
                            build.workers.set(n.clamp(1, 16));
                        }
                    } />
            </label>
            " "
            <button id="build-button" on:click=move |_| builder.start()>"Build"</button>
            <SectionError section=Section::Build />
            {progress}
            {move || build.current().map(|finished| {
                let b = finished.built;
                let layer = b.appended.layers.first().cloned();
                let mbps = if b.millis > 0.0 { b.tar_size as f64 / 1e6 / (b.millis / 1000.0) } else { 0.0 };
                let command = cli_command(base, draft, &b);
                view! {
                    <div id="build-result">
                        <dl>
                            <dt>"diffID"</dt><dd><code id="diff-id">{b.diff_id.clone()}</code></dd>
                            <dt>"Blob digest"</dt><dd><code id="blob-digest">{layer.as_ref().map(|l| l.digest.to_string())}</code></dd>
                            <dt>"Blob size"</dt><dd id="blob-size">{layer.as_ref().map(|l| l.size)}</dd>
                            <dt>"Speed"</dt><dd id="build-speed">{format!("{:.0} ms, {mbps:.1} MB/s, {} worker(s)", b.millis, b.workers)}</dd>
                            <dt>"Worker memory"</dt><dd id="build-memory">{format!("{} MiB", b.wasm_memory >> 20)}</dd>
                            <dt>"New manifest"</dt><dd><code id="new-manifest-digest">{b.appended.manifest_descriptor.digest.to_string()}</code></dd>
                            {b.all.as_ref().map(|all| {
                                let platforms = all.images.iter().map(|(_, a)| view! {
                                    <li class="new-platform-manifest"><code>{a.manifest_descriptor.digest.to_string()}</code></li>
                                }).collect_view();
                                view! {
                                    <dt>"New index"</dt><dd><code id="new-index-digest">{all.index_digest.to_string()}</code>
                                        {format!(" over {} images:", all.images.len())}<ul>{platforms}</ul></dd>
                                }
                            })}
                        </dl>
                        <details><summary>"New config"</summary><pre id="new-config">{pretty(&b.appended.config)}</pre></details>
                        <details><summary>"New manifest"</summary><pre id="new-manifest">{pretty(&b.appended.manifest)}</pre></details>
                        <p>"The same image from the command line:"</p>
                        <pre id="cli-command">{command}</pre>
                    </div>
                }
            })}
        </section>
    }
}
