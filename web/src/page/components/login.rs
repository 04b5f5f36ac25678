//! Credentials per registry, kept in page memory only (never stored, never logged): a base on
//! one authenticated registry and a target on another each find their own.

use leptos::prelude::*;

use crate::page::api::{Login, Logins};

/// One registry's row. The first row's fields keep the ids the page has always had.
fn login_row(logins: RwSignal<Logins>, index: usize, login: Login) -> impl IntoView {
    let set = move |f: fn(&mut Login, String)| {
        move |ev| {
            let value = event_target_value(&ev);
            logins.update(|l| {
                if let Some(login) = l.0.get_mut(index) {
                    f(login, value);
                }
            });
        }
    };
    let id = |name: &str| (index == 0).then(|| format!("login-{name}"));
    let remove = move |_| {
        logins.update(|l| {
            if index < l.0.len() {
                l.0.remove(index);
            }
            if l.0.is_empty() {
                l.0.push(Login::default());
            }
        })
    };
    view! {
        <div class="row login-row">
            <label>"Registry " <input id=id("registry") class="login-registry" type="text" placeholder="127.0.0.1:5000 or docker.io"
                prop:value=login.registry on:input=set(|l, v| l.registry = v) /></label>
            <label>"Username " <input id=id("username") class="login-username" type="text" autocomplete="username"
                prop:value=login.username on:input=set(|l, v| l.username = v) /></label>
            <label>"Password or token " <input id=id("password") class="login-password" type="password" autocomplete="current-password"
                prop:value=login.secret on:input=set(|l, v| l.secret = v) /></label>
            <button type="button" class="login-remove" title="Forget this login" on:click=remove>"remove"</button>
        </div>
    }
}

#[component]
pub fn LoginSection() -> impl IntoView {
    let logins = expect_context::<RwSignal<Logins>>();
    // Rows are rebuilt only when one is added or removed, so typing keeps its focus.
    let count = Memo::new(move |_| logins.with(|l| l.0.len()));
    let rows = move || {
        let n = count.get();
        let typed = logins.get_untracked();
        (0..n).map(|i| login_row(logins, i, typed.0.get(i).cloned().unwrap_or_default())).collect_view()
    };
    view! {
        <section id="login">
            <h2>"Registry logins " <small>"(optional)"</small></h2>
            {rows}
            <button type="button" id="login-add" on:click=move |_| logins.update(|l| l.0.push(Login::default()))>"Add a login for another registry"</button>
            <p class="hint">"Each login is used for the base and the target on its registry. Leave the username empty to use a bearer token."</p>
        </section>
    }
}
