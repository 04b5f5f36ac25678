//! Optional config edits for the new image: env, entrypoint, cmd, workdir, labels — the same
//! edits as `layerize append --env/--entrypoint/--cmd/--workdir/--label` (see `state::edits`).

use leptos::prelude::*;

use crate::page::state::edits::Edits;
use crate::page::state::DraftState;

#[component]
pub fn SettingsSection() -> impl IntoView {
    let draft = expect_context::<DraftState>();
    let edit = move |f: fn(&mut Edits, String)| {
        move |ev| {
            let value = event_target_value(&ev);
            draft.edit(|e| f(e, value));
        }
    };
    view! {
        <section id="settings">
            <details>
                <summary><h2 class="inline">"Config " <small>"(optional)"</small></h2></summary>
                <div class="grid">
                    <label>"Env (KEY=VALUE per line)" <textarea id="edit-env" rows="3" on:input=edit(|e, v| e.env = v)></textarea></label>
                    <label>"Labels (KEY=VALUE per line)" <textarea id="edit-labels" rows="3" on:input=edit(|e, v| e.labels = v)></textarea></label>
                    <label>"Entrypoint (JSON array or words)" <input id="edit-entrypoint" type="text" on:input=edit(|e, v| e.entrypoint = v) /></label>
                    <label>"Cmd (JSON array or words)" <input id="edit-cmd" type="text" on:input=edit(|e, v| e.cmd = v) /></label>
                    <label>"Workdir" <input id="edit-workdir" type="text" on:input=edit(|e, v| e.workdir = v) /></label>
                </div>
            </details>
        </section>
    }
}
