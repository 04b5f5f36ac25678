//! Step 1: the base image: a reference (or an image tar, see `base_archive`), a platform when
//! it is an index, and what it holds.
//! The address (`?image=…&platform=…`) follows what is shown, so a view can be shared.

use layerize_core::manifest::{ImageManifest, Manifest};
use layerize_core::{Digest, Platform, Reference};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::app::{Page, SectionError};
use super::base_archive::ArchiveOpen;
use super::inspect::{ImageInspection, IndexEntries};
use crate::failure::{self, Section};
use crate::{api, location};

/// Loads the image at `digest` (or the top manifest itself) as the base; `platform` is what
/// the address records for it (only for an image of an index).
fn choose(page: Page, reference: Reference, manifest: Option<ImageManifest>, digest: Digest, platform: Option<String>) {
    page.image.set(None);
    page.invalidate_build();
    location::replace(&reference.to_string(), platform.as_deref());
    let login = page.logins.get_untracked();
    spawn_local(async move {
        match api::image(&reference, &login, manifest, &digest).await {
            Ok(image) => page.image.set(Some(image)),
            Err(e) => page.fail(Section::Base, failure::while_doing(&format!("loading {reference}"), &e)),
        }
    });
}

/// Chooses the image `digest` of the loaded index.
fn choose_in_index(page: Page, digest: Digest) {
    let Some(reference) = page.base_ref.get_untracked() else { return };
    let platform = match page.top.get_untracked() {
        Some(Manifest::Index(index)) => index
            .manifests
            .iter()
            .find(|d| d.digest == digest)
            .and_then(|d| d.platform.as_ref().map(ToString::to_string)),
        _ => None,
    };
    choose(page, reference, None, digest, platform);
}

/// Resolves `text` and shows it; for an index, the image for `wanted` (else linux/amd64, else
/// the first image).
fn load(page: Page, text: &str, wanted: Option<Platform>, loading: RwSignal<bool>) {
    let reference: Reference = match text.trim().parse() {
        Ok(r) => r,
        Err(e) => return page.fail(Section::Base, e.to_string()),
    };
    page.clear_error();
    page.top.set(None);
    page.image.set(None);
    page.archive.set_value(None);
    page.invalidate_build();
    page.base_ref.set(Some(reference.clone()));
    loading.set(true);
    let login = page.logins.get_untracked();
    spawn_local(async move {
        let result = api::resolve(&reference, &login).await;
        loading.set(false);
        match result {
            Ok(Manifest::Image(m)) => {
                let digest = m.digest().clone();
                page.top.set(Some(Manifest::Image(m.clone())));
                choose(page, reference, Some(m), digest, None);
            }
            Ok(Manifest::Index(index)) => {
                let wanted = wanted.unwrap_or_else(|| Platform::new("linux", "amd64", None));
                let first = wanted
                    .select(&index.manifests)
                    .ok()
                    .or_else(|| index.manifests.iter().find(|d| !d.is_attestation()))
                    .map(|d| (d.digest.clone(), d.platform.as_ref().map(ToString::to_string)));
                page.top.set(Some(Manifest::Index(index)));
                if let Some((digest, platform)) = first {
                    choose(page, reference, None, digest, platform);
                }
            }
            Err(e) => page.fail(Section::Base, failure::while_doing(&format!("loading {reference}"), &e)),
        }
    });
}

#[component]
pub fn BaseSection(page: Page) -> impl IntoView {
    let input = RwSignal::new(String::new());
    let loading = RwSignal::new(false);
    // A shared address opens its view at once.
    let shared = location::read();
    if let Some(image) = shared.image {
        input.set(image.clone());
        let wanted = match shared.platform.as_deref().map(str::parse::<Platform>) {
            Some(Err(e)) => {
                page.fail(Section::Base, format!("platform in the address: {e}"));
                None
            }
            Some(Ok(p)) => Some(p),
            None => None,
        };
        load(page, &image, wanted, loading);
    }

    let platforms = move || match page.top.get() {
        Some(Manifest::Index(index)) => Some(index),
        _ => None,
    };
    let selected = Signal::derive(move || page.image.with(|i| i.as_ref().map(|i| i.manifest.digest().clone())));
    view! {
        <section id="base">
            <h2>"1. Base image"</h2>
            <form class="row" on:submit=move |ev| { ev.prevent_default(); load(page, &input.get_untracked(), None, loading); }>
                <input id="base-ref" type="text" placeholder="alpine:3.20, 127.0.0.1:5000/base:1 or …@sha256:…"
                    prop:value=move || input.get() on:input=move |ev| input.set(event_target_value(&ev)) />
                <button id="base-load" type="submit" disabled=move || loading.get()>"Load"</button>
            </form>
            <ArchiveOpen page=page loading=loading />
            <SectionError page=page section=Section::Base />
            <Show when=move || loading.get()><p class="hint">"Loading…"</p></Show>
            {move || platforms().map(|index| {
                let selected_str = move || selected.get().map(|d| d.to_string()).unwrap_or_default();
                let options = index.manifests.iter().filter(|d| !d.is_attestation()).map(|d| {
                    let label = d.platform.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "unknown platform".into());
                    let value = d.digest.to_string();
                    let v2 = value.clone();
                    view! { <option value=value selected=move || selected_str() == v2>{label}</option> }
                }).collect_view();
                view! {
                    <p>"Index " <code id="index-digest">{index.digest().to_string()}</code> " (" {index.media_type().to_string()} ")"</p>
                    <label>"Platform "
                        <select id="platform" on:change=move |ev| {
                            if let Ok(d) = event_target_value(&ev).parse::<Digest>() {
                                choose_in_index(page, d);
                            }
                        }>{options}</select>
                    </label>
                    <label class="hint"><input id="all-platforms" type="checkbox" prop:checked=move || page.all_platforms.get()
                        on:change=move |ev| { page.invalidate_build(); page.all_platforms.set(event_target_checked(&ev)); } />
                        " all platforms of this index: the layer is built once, added to every image, and a new index is pushed"</label>
                    <IndexEntries index=index selected=selected on_select=Callback::new(move |d| choose_in_index(page, d)) />
                }
            })}
            {move || page.image.get().zip(page.layer_origin()).map(|(image, origin)| {
                view! { <ImageInspection image=image origin=origin /> }
            })}
        </section>
    }
}
