//! Step 4: push the built image, with per-blob progress, and show where it went.

use layerize_core::Reference;
use layerize_registry::copy::CopyEvent;
use layerize_registry::BlobOutcome;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::app::SectionError;
use crate::page::api::{self, Logins, PushJob};
use crate::page::failure::{self, Section};
use crate::page::state::{BaseState, BuildState, Failures};

#[derive(Clone, Debug, PartialEq)]
struct BlobLine {
    digest: String,
    done: u64,
    total: u64,
    state: &'static str,
}

#[component]
pub fn PushSection() -> impl IntoView {
    let base = expect_context::<BaseState>();
    let build = expect_context::<BuildState>();
    let logins = expect_context::<RwSignal<Logins>>();
    let failures = expect_context::<Failures>();
    let target = RwSignal::new(String::new());
    let lines = RwSignal::new(Vec::<BlobLine>::new());
    let result = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // Seconds since the push started, ticking while it runs.
    let elapsed = RwSignal::new(None::<f64>);
    let push = move || {
        failures.clear();
        result.set(None);
        elapsed.set(None);
        lines.set(Vec::new());
        let (Some(base_ref), Some(image), Some(finished)) =
            (base.reference().get_untracked(), base.image().get_untracked(), untrack(|| build.current()))
        else {
            return failures.fail(Section::Push, "build the layer first");
        };
        let target_ref: Reference = match target.get_untracked().trim().parse() {
            Ok(r) => r,
            Err(e) => return failures.fail(Section::Push, e.to_string()),
        };
        let logins = logins.get_untracked();
        let archive = base.archive().get_untracked();
        busy.set(true);
        let started = js_sys::Date::now();
        let seconds = move || (js_sys::Date::now() - started) / 1000.0;
        elapsed.set(Some(0.0));
        let ticker = set_interval_with_handle(
            move || {
                elapsed.try_set(Some(seconds()));
            },
            std::time::Duration::from_millis(200),
        )
        .ok();
        spawn_local(async move {
            let mut on = |event: CopyEvent| {
                let (digest, done, total, state) = match event {
                    CopyEvent::Started { .. } => return,
                    CopyEvent::Moved { digest, done, total } => (digest, done, total, "uploading"),
                    CopyEvent::Blob { digest, outcome, .. } => {
                        let state = match outcome {
                            BlobOutcome::AlreadyThere => "already there",
                            BlobOutcome::Mounted => "mounted",
                            BlobOutcome::Uploaded => "uploaded",
                        };
                        (digest, 0, 0, state)
                    }
                    CopyEvent::Manifest { digest, .. } => (digest, 0, 0, "manifest pushed"),
                };
                let digest = digest.to_string();
                lines.update(|l| match l.iter_mut().find(|x| x.digest == digest) {
                    Some(x) => {
                        x.state = state;
                        if total > 0 {
                            (x.done, x.total) = (done, total);
                        }
                    }
                    None => l.push(BlobLine { digest, done, total, state }),
                });
            };
            let job = PushJob {
                base: &base_ref,
                base_image: &image.manifest,
                appended: &finished.built.appended,
                target: &target_ref,
                blob: finished.blob.clone(),
                logins: &logins,
                archive: archive.as_ref(),
                all: finished.built.all.as_ref(),
            };
            let pushed = api::push(job, &mut on).await;
            if let Some(ticker) = ticker {
                ticker.clear();
            }
            elapsed.try_set(Some(seconds()));
            busy.set(false);
            match pushed {
                Ok(digest) => {
                    result.set(Some(target_ref.with_digest(digest).to_string()));
                    build.pushed(&finished.run, target_ref);
                }
                Err(e) => {
                    failures.fail(Section::Push, failure::while_doing(&format!("pushing {target_ref}"), &e.to_string()))
                }
            }
        });
    };
    let copy = move |_| {
        if let (Some(text), Some(w)) = (result.get_untracked(), web_sys::window()) {
            let _ = w.navigator().clipboard().write_text(&text);
        }
    };
    view! {
        <section id="push">
            <h2>"4. Push"</h2>
            <form class="row" on:submit=move |ev| { ev.prevent_default(); push(); }>
                <input id="target-ref" type="text" placeholder="127.0.0.1:5000/app:1" prop:value=move || target.get()
                    on:input=move |ev| target.set(event_target_value(&ev)) />
                <button id="push-button" type="submit" disabled=move || busy.get() || build.current().is_none()>"Push"</button>
                {move || elapsed.get().map(|s| view! {
                    <span id="push-elapsed" data-running=busy.get().to_string()>{format!("{s:.1} s")}</span>
                })}
            </form>
            <SectionError section=Section::Push />
            <ul id="push-progress">{move || lines.get().into_iter().map(|l| view! {
                <li><code>{l.digest.get(..19).unwrap_or_default().to_owned()}</code> " " {l.state}
                    {(l.total > 0).then(|| format!(" {}/{} bytes", l.done, l.total))}</li>
            }).collect_view()}</ul>
            {move || result.get().map(|r| view! {
                <p>"Pushed " <code id="push-result">{r}</code> " " <button id="copy" on:click=copy>"Copy"</button></p>
            })}
        </section>
    }
}
