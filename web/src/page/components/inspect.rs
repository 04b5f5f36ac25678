//! What the base image is made of: every entry of an index (attestations and artifacts
//! labelled), and for the chosen image the raw manifest and config with the digests of those
//! bytes, the config summary, the history paired with the layers it made, and layer sizes.
//!
//! Everything shown comes from the core's inspect report, the same one `layerize inspect`
//! prints.

use layerize_core::inspect::{ImageReport, IndexEntry, IndexReport, Role};
use layerize_core::manifest::Index;
use layerize_core::Digest;
use leptos::prelude::*;

use super::layer_files::LayerFiles;
use super::merged_files::MergedFiles;
use crate::page::api::BaseImage;
use crate::page::layer_origin::LayerOrigin;

pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// JSON bytes indented for reading; the bytes themselves (and their digest) are untouched.
fn pretty(raw: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(raw).into_owned())
}

fn role_label(entry: &IndexEntry) -> String {
    match entry.role {
        Role::Image => "image".to_owned(),
        Role::Index => "index".to_owned(),
        Role::Attestation => match &entry.describes {
            Some(d) => format!("attestation of {}", short(d)),
            None => "attestation".to_owned(),
        },
        Role::Artifact => match &entry.artifact_type {
            Some(t) => format!("artifact ({t})"),
            None => "artifact".to_owned(),
        },
    }
}

/// `sha256:0123456789ab…`: enough to tell entries apart in a label.
fn short(digest: &str) -> String {
    digest.chars().take(19).collect::<String>() + "…"
}

/// Every manifest of an index; images can be chosen, the rest are labelled.
#[component]
pub fn IndexEntries(index: Index, selected: Signal<Option<Digest>>, on_select: Callback<Digest>) -> impl IntoView {
    let report = IndexReport::new(&index);
    let rows = report
        .manifests
        .into_iter()
        .map(|e| {
            let digest = e.digest.clone();
            let d2 = digest.clone();
            let is_selected = move || selected.get().as_ref() == Some(&d2);
            let choose = (e.role == Role::Image).then(|| {
                let d = digest.clone();
                view! { <button class="choose" disabled=is_selected.clone() on:click=move |_| on_select.run(d.clone())>"Choose"</button> }
            });
            let class = match e.role {
                Role::Image => "index-entry image",
                Role::Index => "index-entry index",
                Role::Attestation => "index-entry attestation",
                Role::Artifact => "index-entry artifact",
            };
            view! {
                <tr class=class class:selected=is_selected>
                    <td class="platform">{e.platform.clone().unwrap_or_else(|| "—".into())}</td>
                    <td class="role">{role_label(&e)}</td>
                    <td class="num size">{human(e.size)}</td>
                    <td><code class="digest">{digest.to_string()}</code></td>
                    <td class="media-type">{e.media_type.to_string()}</td>
                    <td>{choose}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table id="index-entries">
            <thead><tr><th>"Platform"</th><th>"Role"</th><th>"Size"</th><th>"Digest"</th><th>"Media type"</th><th></th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// The chosen image: summary, raw documents, history, layers and, under the row of the layer
/// whose "Files" button was pressed, its files (until closed).
#[component]
pub fn ImageDetails(image: BaseImage, origin: LayerOrigin) -> impl IntoView {
    let chosen = RwSignal::new(None::<usize>);
    let m = &image.manifest;
    let report = ImageReport::new(m, Some(&image.config));
    let summary = report.config.summary.clone().unwrap_or_default();
    let raw_manifest_digest = Digest::sha256(m.raw()).to_string();
    let raw_config_digest = Digest::sha256(image.config.raw()).to_string();
    let list = |v: Option<Vec<String>>| v.map(|v| v.join(" ")).unwrap_or_else(|| "—".into());
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let max = report.layers.iter().map(|l| l.size).max().unwrap_or(0).max(1);
    let layers = report
        .layers
        .iter()
        .map(|l| {
            let n = l.number;
            let descriptor = image.manifest.layers.get(n - 1).cloned();
            let origin = origin.clone();
            let files = move || {
                let layer = descriptor.clone().filter(|_| chosen.get() == Some(n))?;
                let close = Callback::new(move |()| chosen.set(None));
                Some(view! {
                    <tr class="layer-files-row"><td colspan="5">
                        <LayerFiles origin=origin.clone() number=n layer=layer on_close=close />
                    </td></tr>
                })
            };
            view! {
                <tr class="layer-row">
                    <td>{n}</td>
                    <td><code>{l.digest.to_string()}</code></td>
                    <td class="num">{human(l.size)}</td>
                    <td>{l.media_type.to_string()}</td>
                    <td><button class="layer-files-button" on:click=move |_| chosen.set(Some(n))>"Files"</button></td>
                </tr>
                {files}
            }
        })
        .collect_view();
    let bars = report
        .layers
        .iter()
        .map(|l| {
            let width = format!("width: {:.2}%", (l.size as f64 * 100.0 / max as f64).max(0.5));
            view! {
                <div class="layer-bar" title=l.digest.to_string()>
                    <span class="bar-label">{l.number}</span>
                    <span class="bar"><span class="bar-fill" style=width></span></span>
                    <span class="bar-size">{human(l.size)}</span>
                </div>
            }
        })
        .collect_view();
    let layer_sizes: Vec<u64> = report.layers.iter().map(|l| l.size).collect();
    let history = report
        .history
        .iter()
        .map(|s| {
            let made = match s.layer {
                Some(n) => format!("layer {n}, {}", human(layer_sizes.get(n - 1).copied().unwrap_or(0))),
                None => "no layer".to_owned(),
            };
            view! {
                <tr class="history-step">
                    <td>{or_dash(s.history.created.clone())}</td>
                    <td><code>{s.history.created_by.clone().unwrap_or_default()}</code></td>
                    <td class="made">{made}</td>
                </tr>
            }
        })
        .collect_view();
    let labels = summary
        .labels
        .iter()
        .map(|(k, v)| view! { <li><code>{k.clone()}</code> " = " {v.clone()}</li> })
        .collect_view();
    view! {
        <div id="base-details">
            <p>"Manifest " <code id="base-digest">{m.digest().to_string()}</code></p>
            <p>"Media type " <code id="base-media-type">{m.media_type().to_string()}</code> " · platform " <code id="base-platform">{summary.platform.clone()}</code>
               " · layers " {human(report.layers_size)}</p>
            {report.note.clone().map(|n| view! { <p class="hint">{n}</p> })}
            <dl class="summary">
                <dt>"Entrypoint"</dt><dd id="summary-entrypoint">{list(summary.entrypoint.clone())}</dd>
                <dt>"Cmd"</dt><dd id="summary-cmd">{list(summary.cmd.clone())}</dd>
                <dt>"Env"</dt><dd id="summary-env">{summary.env.join(" ")}</dd>
                <dt>"Workdir"</dt><dd id="summary-workdir">{or_dash(summary.working_dir.clone())}</dd>
                <dt>"User"</dt><dd id="summary-user">{or_dash(summary.user.clone())}</dd>
                <dt>"Exposed ports"</dt><dd id="summary-ports">{if summary.exposed_ports.is_empty() { "—".to_owned() } else { summary.exposed_ports.join(" ") }}</dd>
                <dt>"Created"</dt><dd id="summary-created">{or_dash(summary.created.clone())}</dd>
                <dt>"Labels"</dt><dd id="summary-labels">{if summary.labels.is_empty() { None } else { Some(view! { <ul>{labels}</ul> }) }}</dd>
            </dl>
            <table id="base-layers"><thead><tr><th>"#"</th><th>"Layer"</th><th>"Size"</th><th>"Type"</th><th></th></tr></thead><tbody>{layers}</tbody></table>
            <div id="layer-bars">{bars}</div>
            <details id="history"><summary>"History"</summary>
                <table><thead><tr><th>"Created"</th><th>"Step"</th><th>"Made"</th></tr></thead><tbody>{history}</tbody></table>
            </details>
            <details><summary>"Raw manifest " <code id="raw-manifest-digest">{raw_manifest_digest}</code> " (" {human(m.raw().len() as u64)} ")"</summary>
                <pre id="raw-manifest">{pretty(m.raw())}</pre>
            </details>
            <details><summary>"Raw config " <code id="raw-config-digest">{raw_config_digest}</code> " (" {human(image.config.raw().len() as u64)} ")"</summary>
                <pre id="raw-config">{pretty(image.config.raw())}</pre>
            </details>
        </div>
    }
}

/// The details (with a layer's files under its row) and the merged filesystem.
#[component]
pub fn ImageInspection(image: BaseImage, origin: LayerOrigin) -> impl IntoView {
    let layers = image.manifest.layers.clone();
    view! {
        <ImageDetails image=image origin=origin.clone() />
        <MergedFiles origin=origin layers=layers />
    }
}
