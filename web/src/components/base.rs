//! Step 1: the base image: a reference, a platform when it is an index, and what it holds.

use layerize_core::manifest::Manifest;
use layerize_core::{Digest, Platform, Reference};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::app::Page;
use crate::api;

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// Loads the image at `digest` (or the top manifest itself) as the base.
fn choose(page: Page, reference: Reference, manifest: Option<layerize_core::manifest::ImageManifest>, digest: Digest) {
    page.image.set(None);
    page.invalidate_build();
    let login = page.login.get_untracked();
    spawn_local(async move {
        match api::image(&reference, &login, manifest, &digest).await {
            Ok(image) => page.image.set(Some(image)),
            Err(e) => page.fail(format!("loading {reference}: {e}")),
        }
    });
}

#[component]
pub fn BaseSection(page: Page) -> impl IntoView {
    let input = RwSignal::new(String::new());
    let loading = RwSignal::new(false);
    let load = move || {
        let text = input.get_untracked().trim().to_owned();
        let reference: Reference = match text.parse() {
            Ok(r) => r,
            Err(e) => return page.fail(e.to_string()),
        };
        page.error.set(None);
        page.top.set(None);
        page.image.set(None);
        page.invalidate_build();
        page.base_ref.set(Some(reference.clone()));
        loading.set(true);
        let login = page.login.get_untracked();
        spawn_local(async move {
            let result = api::resolve(&reference, &login).await;
            loading.set(false);
            match result {
                Ok(Manifest::Image(m)) => {
                    let digest = m.digest().clone();
                    page.top.set(Some(Manifest::Image(m.clone())));
                    choose(page, reference, Some(m), digest);
                }
                Ok(Manifest::Index(index)) => {
                    let wanted = Platform::new("linux", "amd64", None);
                    let first = wanted
                        .select(&index.manifests)
                        .ok()
                        .or_else(|| index.manifests.iter().find(|d| !d.is_attestation()))
                        .map(|d| d.digest.clone());
                    page.top.set(Some(Manifest::Index(index)));
                    if let Some(digest) = first {
                        choose(page, reference, None, digest);
                    }
                }
                Err(e) => page.fail(format!("loading {reference}: {e}")),
            }
        });
    };

    let platforms = move || match page.top.get() {
        Some(Manifest::Index(index)) => Some(index),
        _ => None,
    };
    view! {
        <section id="base">
            <h2>"1. Base image"</h2>
            <form class="row" on:submit=move |ev| { ev.prevent_default(); load(); }>
                <input id="base-ref" type="text" placeholder="alpine:3.20, 127.0.0.1:5000/base:1 or …@sha256:…"
                    prop:value=move || input.get() on:input=move |ev| input.set(event_target_value(&ev)) />
                <button id="base-load" type="submit" disabled=move || loading.get()>"Load"</button>
            </form>
            <Show when=move || loading.get()><p class="hint">"Loading…"</p></Show>
            {move || platforms().map(|index| {
                let selected = move || page.image.get().map(|i| i.manifest.digest().to_string()).unwrap_or_default();
                let options = index.manifests.iter().filter(|d| !d.is_attestation()).map(|d| {
                    let label = d.platform.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "unknown platform".into());
                    let value = d.digest.to_string();
                    let v2 = value.clone();
                    view! { <option value=value selected=move || selected() == v2>{label}</option> }
                }).collect_view();
                view! {
                    <p>"Index " <code id="index-digest">{index.digest().to_string()}</code> " (" {index.media_type().to_string()} ")"</p>
                    <label>"Platform "
                        <select id="platform" on:change=move |ev| {
                            let value = event_target_value(&ev);
                            if let (Some(r), Ok(d)) = (page.base_ref.get_untracked(), value.parse::<Digest>()) {
                                choose(page, r, None, d);
                            }
                        }>{options}</select>
                    </label>
                }
            })}
            {move || page.image.get().map(|image| {
                let m = image.manifest.clone();
                let summary = image.config.summary();
                let layers = m.layers.iter().enumerate().map(|(i, l)| view! {
                    <tr><td>{i + 1}</td><td><code>{l.digest.to_string()}</code></td><td class="num">{human(l.size)}</td><td>{l.media_type.to_string()}</td></tr>
                }).collect_view();
                let history = summary.history.iter().map(|h| view! {
                    <li>{h.created_by.clone().unwrap_or_default()} {h.empty_layer.then_some(" (no layer)")}</li>
                }).collect_view();
                let list = |v: Option<Vec<String>>| v.map(|v| v.join(" ")).unwrap_or_else(|| "—".into());
                view! {
                    <div id="base-details">
                        <p>"Manifest " <code id="base-digest">{m.digest().to_string()}</code></p>
                        <p>"Media type " <code id="base-media-type">{m.media_type().to_string()}</code> " · platform " <code id="base-platform">{summary.platform.clone()}</code></p>
                        <table id="base-layers"><thead><tr><th>"#"</th><th>"Layer"</th><th>"Size"</th><th>"Type"</th></tr></thead><tbody>{layers}</tbody></table>
                        <dl class="summary">
                            <dt>"Entrypoint"</dt><dd>{list(summary.entrypoint.clone())}</dd>
                            <dt>"Cmd"</dt><dd>{list(summary.cmd.clone())}</dd>
                            <dt>"Env"</dt><dd>{summary.env.join(" ")}</dd>
                            <dt>"Workdir"</dt><dd>{summary.working_dir.clone().unwrap_or_else(|| "—".into())}</dd>
                            <dt>"User"</dt><dd>{summary.user.clone().unwrap_or_else(|| "—".into())}</dd>
                        </dl>
                        <details><summary>"History"</summary><ol>{history}</ol></details>
                    </div>
                }
            })}
        </section>
    }
}
