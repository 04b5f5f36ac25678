//! The page: its state put in context (see `state`), the banner, and the sections in order.

use leptos::prelude::*;

use super::settings::SettingsSection;
use super::shadow::ShadowSection;
use super::{
    base::BaseSection, build::BuildSection, files::FilesSection, login::LoginSection, push::PushSection,
    save::SaveSection,
};
use crate::page::failure::Section;
use crate::page::state::{self, Failures};

/// The failure of `section`'s action, shown where the person pressed the button.
#[component]
pub fn SectionError(section: Section) -> impl IntoView {
    let failures = expect_context::<Failures>();
    view! {
        {move || failures.of(section).map(|m| view! { <p id=section.error_id() class="error section-error" role="alert">{m}</p> })}
    }
}

#[component]
pub fn App() -> impl IntoView {
    state::provide();
    let failures = expect_context::<Failures>();
    view! {
        <header><h1>"layerize"</h1><p>"Drop files on a container image; get a new image. Everything is computed in this page."</p></header>
        <main>
            <Show when=move || failures.shown().is_some()>
                <div id="error" class="error" role="alert">
                    {move || failures.shown().map(|f| f.message).unwrap_or_default()}
                    <button class="dismiss" on:click=move |_| failures.clear()>"×"</button>
                </div>
            </Show>
            <LoginSection />
            <BaseSection />
            <FilesSection />
            <ShadowSection />
            <SettingsSection />
            <BuildSection />
            <PushSection />
            <SaveSection />
        </main>
    }
}
