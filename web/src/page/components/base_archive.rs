//! The base image from an image tar instead of a registry: the person opens (or drops on the
//! picker) a `docker save` / `podman save` / skopeo / `layerize save` tar; the worker finds its
//! one image, and the page shows and builds on it as on a pulled one.

use layerize_core::config::Config;
use layerize_core::manifest::Manifest;
use layerize_core::Reference;
use leptos::prelude::*;
use web_sys::HtmlInputElement;

use crate::page::api::BaseImage;
use crate::page::archive_base::ArchiveBase;
use crate::page::failure::Section;
use crate::page::location;
use crate::page::state::{BaseState, Failures};
use crate::page::worker_job::{Event, WorkerJob};
use crate::page::Error;
use crate::protocol::open_archive::{ArchiveImage, Opened};
use crate::protocol::OpenArchive;

/// The name the base goes by: the tar's own, else one made from the file name (`app.tar` →
/// `app:latest`), since every later step names the base.
fn base_name(image: &ArchiveImage, file_name: &str) -> Result<Reference, Error> {
    if let Some(r) = image.names.iter().find_map(|n| n.parse::<Reference>().ok()) {
        return Ok(r);
    }
    let stem = file_name.strip_suffix(".tar").unwrap_or(file_name).to_ascii_lowercase();
    let clean: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' { c } else { '-' })
        .collect();
    let clean = clean.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{clean}:latest").parse().or_else(|_| "image:latest".parse()).map_err(Error::from)
}

/// The typed views of what the worker read (it checked the bytes against their digests).
fn base_image(what: &str, image: &ArchiveImage) -> Result<BaseImage, Error> {
    let manifest = match Manifest::parse(what, image.manifest.clone(), None)? {
        Manifest::Image(m) => m,
        Manifest::Index(_) => return Err(Error::IndexInArchive(what.to_owned())),
    };
    let config = Config::parse(&manifest.config.digest.to_string(), image.config.clone())?;
    Ok(BaseImage { manifest, config })
}

/// Reads `file` in the worker and makes its image the base, unless another load started
/// meanwhile.
fn open(base: BaseState, failures: Failures, file: web_sys::File) {
    failures.clear();
    location::clear();
    let what = file.name();
    let load = base.load_archive(what.clone());
    let answered = load.clone();
    let started = WorkerJob::start(OpenArchive { file }, move |event| match event {
        Event::Done(Opened { image, tar }) => {
            match base_image(&what, &image).and_then(|image_base| Ok((image_base, base_name(&image, &what)?))) {
                Ok((image_base, name)) => {
                    let archive = ArchiveBase::new(what.clone(), tar, image.layers.clone());
                    base.opened(&answered, archive, name, image_base);
                }
                Err(e) if base.failed(&answered) => failures.fail(Section::Base, format!("opening {what}: {e}")),
                Err(_) => {}
            }
        }
        // The worker's message names the file.
        Event::Failed(e) if base.failed(&answered) => failures.fail(Section::Base, format!("opening {e}")),
        Event::Failed(_) => {}
        Event::Update(nothing) => match nothing {},
    });
    match started {
        Ok(job) => base.reading(&load, job),
        Err(e) => {
            if base.failed(&load) {
                failures.fail(Section::Base, e.to_string());
            }
        }
    }
}

#[component]
pub fn ArchiveOpen() -> impl IntoView {
    let (base, failures) = (expect_context::<BaseState>(), expect_context::<Failures>());
    let on_change = move |ev: web_sys::Event| {
        let input: HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            open(base, failures, file);
        }
        input.set_value("");
    };
    let archive = base.archive();
    view! {
        <p class="hint">
            <label>"… or open an image tar (docker save, podman save, layerize save): "
                <input id="archive-input" type="file" accept=".tar,.tar.gz,.tgz,application/x-tar,application/gzip" on:change=on_change /></label>
            {move || base.image().with(Option::is_some).then(|| archive.with(|a| a.as_ref().map(|a| view! {
                <span id="archive-name">" from " <code>{a.name.clone()}</code></span>
            })))}
        </p>
    }
}
