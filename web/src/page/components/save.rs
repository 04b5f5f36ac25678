//! Step 5: download the base image, or the image just built, as a tar for `docker load`,
//! under a name the person chooses, with progress; written to a picked file where the browser
//! can, else through the browser's downloads.

use layerize_core::archive::docker::familiar_tag;
use layerize_core::Reference;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::app::SectionError;
use super::inspect::human;
use crate::page::api::Logins;
use crate::page::download::{self, Destination, FileRequest};
use crate::page::failure::{self, Section};
use crate::page::save::{self, SaveJob, SaveProgress};
use crate::page::state::{BaseState, BuildState, Failures};
use crate::page::Error;

/// Which image goes into the tar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Base,
    Built,
}

/// The name the tar gives the image unless the person types another: the base's own name,
/// or for the built image the name it was pushed under, else the base's repository at tag
/// `layerize`.
fn default_name(base: &Reference, which: Which, pushed: Option<&Reference>) -> String {
    let named = match which {
        Which::Base if base.tag().is_some() => Some(base.clone()),
        Which::Base if base.digest().is_none() => base.with_tag("latest").ok(),
        Which::Base => None,
        Which::Built => match pushed {
            Some(p) if p.tag().is_some() => Some(p.clone()),
            Some(p) => p.with_tag("latest").ok(),
            None => base.with_tag("layerize").ok(),
        },
    };
    named.and_then(|r| familiar_tag(&r)).unwrap_or_default()
}

/// The name typed, as a reference with a tag: `app` means `app:latest`; a digest alone names
/// no tag, so `docker load` could not tag the image.
fn parse_name(text: &str) -> Result<Reference, Error> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::NoTarName);
    }
    let reference: Reference = text
        .parse()
        .map_err(|e: layerize_core::Error| Error::Field { field: "name for the tar", reason: e.to_string() })?;
    match (reference.tag(), reference.digest()) {
        (Some(_), _) => Ok(reference),
        (None, None) => Ok(reference.with_tag("latest")?),
        (None, Some(_)) => Err(Error::TarNameWithoutTag(text.to_owned())),
    }
}

/// The file name offered: the repository's last part and the tag (`app-1.tar`).
fn file_name(name: &Reference) -> String {
    let repo = name.repository().rsplit('/').next().unwrap_or("image");
    format!("{repo}-{}.tar", name.tag().unwrap_or("latest"))
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    Idle,
    Saving(SaveProgress),
    Saved { file: String, size: u64, name: String },
    Cancelled,
}

#[component]
pub fn SaveSection() -> impl IntoView {
    let base = expect_context::<BaseState>();
    let build = expect_context::<BuildState>();
    let logins = expect_context::<RwSignal<Logins>>();
    let failures = expect_context::<Failures>();
    // The build shown, by its start, and where it was pushed: what the default name follows.
    let shown = Memo::new(move |_| build.current().map(|f| (f.run, f.pushed)));
    let choice = RwSignal::new(None::<Which>);
    let typed = RwSignal::new(None::<String>);
    let pick_file = RwSignal::new(download::can_pick_file());
    let state = RwSignal::new(State::Idle);
    // The built image when there is one, unless the person chose the base.
    let which = move || match (choice.get(), shown.with(Option::is_some)) {
        (Some(Which::Base), _) | (_, false) => Which::Base,
        _ => Which::Built,
    };
    let name_text = move || {
        typed.get().unwrap_or_else(|| {
            let pushed = shown.get().and_then(|(_, pushed)| pushed);
            base.reference().get().map(|b| default_name(&b, which(), pushed.as_ref())).unwrap_or_default()
        })
    };
    let busy = move || matches!(state.get(), State::Saving(_));
    // Another base or another build: the old name and result no longer apply.
    Effect::new(move |_| {
        base.reference().track();
        shown.track();
        typed.set(None);
        state.set(State::Idle);
    });

    let start = move || {
        failures.clear();
        let (Some(base_ref), Some(image)) = (base.reference().get_untracked(), base.image().get_untracked()) else {
            return failures.fail(Section::Save, "load a base image first");
        };
        let name = match parse_name(&name_text()) {
            Ok(n) => n,
            Err(e) => return failures.fail(Section::Save, e.to_string()),
        };
        let built = match which() {
            Which::Base => None,
            Which::Built => match untrack(|| build.current()) {
                Some(finished) => Some((finished.built.appended, finished.blob)),
                None => return failures.fail(Section::Save, "build the layer first"),
            },
        };
        let file = file_name(&name);
        // The dialog must open now, within the click; its answer is awaited below.
        let request = if pick_file.get_untracked() && download::can_pick_file() {
            match FileRequest::ask(&file) {
                Ok(r) => Some(r),
                Err(e) => return failures.fail(Section::Save, e.to_string()),
            }
        } else {
            None
        };
        let job = SaveJob {
            base: base_ref,
            logins: logins.get_untracked(),
            image,
            built,
            name: name.clone(),
            archive: base.archive().get_untracked(),
        };
        state.set(State::Saving(SaveProgress::default()));
        spawn_local(async move {
            let out = match request {
                None => Destination::download(&file),
                Some(request) => match request.open().await {
                    Ok(Some(out)) => out,
                    Ok(None) => {
                        state.set(State::Cancelled);
                        return;
                    }
                    Err(e) => {
                        state.set(State::Idle);
                        return failures.fail(Section::Save, e.to_string());
                    }
                },
            };
            let file = out.name().to_owned();
            let saved = save::save(job, out, &mut |p| {
                state.try_set(State::Saving(p));
            })
            .await;
            match saved {
                Ok(size) => {
                    state.try_set(State::Saved { file, size, name: familiar_tag(&name).unwrap_or_default() });
                }
                Err(e) => {
                    state.try_set(State::Idle);
                    failures.fail(Section::Save, failure::while_doing(&format!("saving {file}"), &e.to_string()));
                }
            }
        });
    };

    let status = move || match state.get() {
        State::Idle => None,
        State::Cancelled => Some(view! { <p id="save-status" class="hint">"Cancelled."</p> }.into_any()),
        State::Saving(p) => {
            let pct = if p.total == 0 { 0.0 } else { p.done as f64 * 100.0 / p.total as f64 };
            Some(view! {
                <div id="save-progress"><progress max="100" value=pct />
                    {format!(" {} of {} of blobs, {} written", human(p.done), human(p.total), human(p.written))}</div>
            }.into_any())
        }
        State::Saved { file, size, name } => Some(
            view! {
                <p id="save-status" data-done="true">"Saved " <code id="save-file">{file.clone()}</code>
                    {format!(" ({size} bytes), the image named {name}; load it with ")}
                    <code>{format!("docker load -i {file}")}</code></p>
            }
            .into_any(),
        ),
    };
    view! {
        <Show when=move || base.image().with(Option::is_some)>
            <section id="save">
                <h2>"5. Download as docker-load tar"</h2>
                <form class="row" on:submit=move |ev| { ev.prevent_default(); start(); }>
                    <label><input type="radio" name="save-which" id="save-base" prop:checked=move || which() == Which::Base
                        on:change=move |_| { choice.set(Some(Which::Base)); typed.set(None); } />" the base image"</label>
                    <label><input type="radio" name="save-which" id="save-built" prop:checked=move || which() == Which::Built
                        disabled=move || shown.with(Option::is_none)
                        on:change=move |_| { choice.set(Some(Which::Built)); typed.set(None); } />" the built image"</label>
                    <input id="save-name" type="text" placeholder="app:1" prop:value=name_text
                        on:input=move |ev| typed.set(Some(event_target_value(&ev))) />
                    <button id="save-button" type="submit" disabled=busy>"Download as docker-load tar"</button>
                </form>
                <Show when=download::can_pick_file>
                    <label class="hint"><input id="save-pick" type="checkbox" prop:checked=move || pick_file.get()
                        on:change=move |ev| pick_file.set(event_target_checked(&ev)) />
                        " choose where to save it (the file is written as it is made; otherwise it goes to your downloads when complete)"</label>
                </Show>
                <SectionError section=Section::Save />
                {status}
            </section>
        </Show>
    }
}
