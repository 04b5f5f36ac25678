//! Credentials for one registry, kept in page memory only (never stored, never logged).

use leptos::prelude::*;

use super::app::Page;

#[component]
pub fn LoginSection(page: Page) -> impl IntoView {
    let set = move |f: fn(&mut crate::api::Login, String)| {
        move |ev| {
            let value = event_target_value(&ev);
            page.login.update(|l| f(l, value));
        }
    };
    view! {
        <section id="login">
            <h2>"Registry login " <small>"(optional)"</small></h2>
            <div class="row">
                <label>"Registry " <input id="login-registry" type="text" placeholder="127.0.0.1:5000 or docker.io" on:input=set(|l, v| l.registry = v) /></label>
                <label>"Username " <input id="login-username" type="text" autocomplete="username" on:input=set(|l, v| l.username = v) /></label>
                <label>"Password or token " <input id="login-password" type="password" autocomplete="current-password" on:input=set(|l, v| l.secret = v) /></label>
            </div>
            <p class="hint">"Used for the base and the target when they are on this registry. Leave the username empty to use a bearer token."</p>
        </section>
    }
}
