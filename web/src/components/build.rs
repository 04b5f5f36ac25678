//! Step 3: build the layer in a Web Worker, then compute the new config and manifest here.

use layerize_core::config::History;
use layerize_core::layer::gzip::Profile;
use layerize_core::layer::{MODE_EXEC, MODE_FILE};
use layerize_core::mutate::{self, NewLayer};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::app::{Built, Page, SectionError};
use crate::api;
use crate::failure::Section;
use crate::layer_build::{self, Event};
use crate::worker::{WireEntry, WireKind};

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

/// The CLI command that gives the same image (files at `./<relative path>`).
fn cli_command(page: &Page, built: &Built) -> String {
    let prefix = page.prefix.get_untracked();
    let mut parts = vec!["layerize append".to_owned()];
    // A base opened from a tar is that file for the CLI too (docker-archive: reads both layouts).
    let base = match page.archive.get_value() {
        Some(archive) => format!("docker-archive:./{}", archive.name),
        None => page.base_ref.get_untracked().map(|r| r.to_string()).unwrap_or_default(),
    };
    parts.push(shell_quote(&base));
    if built.all.is_some() {
        parts.push("--all-platforms".to_owned());
    } else if let Some(image) = page.image.get_untracked() {
        if matches!(page.top.get_untracked(), Some(layerize_core::manifest::Manifest::Index(_))) {
            parts.push(format!("--platform {}", image.config.platform()));
        }
    }
    // Every file's mode is given: the CLI would take it from the disk, the page from its tick.
    for row in page.rows.get_untracked() {
        let dest = row.destination(&prefix);
        parts.push(format!("-f {}", shell_quote(&format!("./{}:{dest}", row.rel))));
        let mode = if row.exec { MODE_EXEC } else { MODE_FILE };
        parts.push(format!("--chmod {}", shell_quote(&format!("{dest}={mode:04o}"))));
    }
    for d in page.deletes.get_untracked() {
        parts.push(format!("--delete {}", shell_quote(&d)));
    }
    for (flag, value) in page.edits.get_untracked().flags() {
        parts.push(format!("{flag} {}", shell_quote(&value)));
    }
    parts.push(format!("--created {}", built.created));
    parts.push(format!("--history {}", shell_quote(&built.history)));
    parts.push("-t TARGET".to_owned());
    parts.join(" \\\n    ")
}

fn start(page: Page) {
    page.clear_error();
    page.invalidate_build();
    let Some(image) = page.image.get_untracked() else {
        return page.fail(Section::Build, "load a base image first");
    };
    let prefix = page.prefix.get_untracked();
    let rows = page.rows.get_untracked();
    let deletes = page.deletes.get_untracked();
    if rows.is_empty() && deletes.is_empty() {
        return page.fail(Section::Build, "add files or paths to delete first");
    }
    let files = js_sys::Array::new();
    let mut entries = Vec::new();
    for row in &rows {
        let index = files.length();
        if let Some(file) = page.files.with_value(|f| f.get(row.id).cloned()) {
            files.push(&file);
        }
        let mode = if row.exec { MODE_EXEC } else { MODE_FILE };
        entries
            .push(WireEntry { path: row.destination(&prefix), kind: WireKind::File { mode, size: row.size, index } });
    }
    entries.extend(deletes.iter().map(|d| WireEntry { path: d.clone(), kind: WireKind::Whiteout }));
    let created = now();
    let changes = match page.edits.get_untracked().changes(&created) {
        Ok(c) => c,
        Err(e) => return page.fail(Section::Build, format!("config: {e}")),
    };
    let history = format!("layerize page: {} files, {} deletions", rows.len(), deletes.len());
    page.progress.set(Some((0, rows.iter().map(|r| r.size).sum(), 0.0)));
    let started = js_sys::Date::now();
    let workers = page.workers.get_untracked();
    // The CLI's default profile, so `layerize layer` of the same files gives the same blob.
    let gzip = Profile::default();
    let all_of = page.all_platforms_of();
    let base_ref = page.base_ref.get_untracked();
    let logins = page.logins.get_untracked();
    let result = layer_build::start(entries, files, 0, gzip, workers, move |event| match event {
        Event::Progress { done, total } => {
            let seconds = (js_sys::Date::now() - started) / 1000.0;
            page.progress.set(Some((done, total, if seconds > 0.0 { done as f64 / 1e6 / seconds } else { 0.0 })));
        }
        Event::Failed(message) => {
            page.progress.set(None);
            page.fail(Section::Build, format!("building the layer failed: {message}"));
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
            let appended = match mutate::append(&image.manifest, &image.config, std::slice::from_ref(&layer), &changes)
            {
                Ok(appended) => appended,
                Err(e) => return page.fail(Section::Build, e.to_string()),
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
                page.blob.set_value(Some(blob));
                page.built.set(Some(built));
                return;
            };
            // Every platform's config and manifest, rewritten over the one layer.
            let (logins, changes) = (logins.clone(), changes.clone());
            spawn_local(async move {
                match api::append_all(&reference, &logins, &index, &layer, &changes).await {
                    Ok(all) => {
                        page.blob.set_value(Some(blob));
                        page.built.set(Some(Built { all: Some(all), ..built }));
                    }
                    Err(e) => page.fail(Section::Build, format!("appending to every platform of {reference}: {e}")),
                }
            });
        }
    });
    if let Err(e) = result {
        page.fail(Section::Build, e);
    }
}

#[component]
pub fn BuildSection(page: Page) -> impl IntoView {
    let progress = move || {
        page.progress.get().map(|(done, total, mbps)| {
            let pct = if total == 0 { 100.0 } else { done as f64 * 100.0 / total as f64 };
            view! { <div id="build-progress"><progress max="100" value=pct /> {format!(" {done} / {total} bytes, {mbps:.1} MB/s")}</div> }
        })
    };
    view! {
        <section id="build">
            <h2>"3. Build the layer"</h2>
            <label>
                "Workers "
                <input id="build-workers" type="number" min="1" max="16" prop:value=move || page.workers.get().to_string()
                    on:input=move |ev| {
                        if let Ok(n) = event_target_value(&ev).trim().parse::<u32>() {
                            page.workers.set(n.clamp(1, 16));
                        }
                    } />
            </label>
            " "
            <button id="build-button" on:click=move |_| start(page)>"Build"</button>
            <SectionError page=page section=Section::Build />
            {progress}
            {move || page.built.get().map(|b| {
                let layer = b.appended.layers.first().cloned();
                let mbps = if b.millis > 0.0 { b.tar_size as f64 / 1e6 / (b.millis / 1000.0) } else { 0.0 };
                let command = cli_command(&page, &b);
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
