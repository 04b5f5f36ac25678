//! Before building: what the new layer does to the base's files. On demand, the base's merged
//! filesystem is computed as the merged view computes it (every layer through the worker);
//! the core's shadow report then compares it with the layer the dropped files and deletions
//! make, and this section shows which destinations replace base files (base size against new
//! size), which deletions remove something and which remove nothing, and the bytes the layer
//! adds. The report follows every edit of the files; only the base listing is fetched once.

use layerize_core::flatten::MergedEntry;
use layerize_core::layer::{Entry, EntryKind, LayerPath, Plan, MODE_EXEC, MODE_FILE};
use layerize_core::shadow::{shadowing, Shadowing};
use layerize_core::Digest;
use leptos::prelude::*;

use super::inspect::human;
use super::merged_files::{start_merge, Merge};
use crate::page::api::Logins;
use crate::page::failure::Section;
use crate::page::state::{BaseState, DraftState, Failures};
use crate::page::worker_job::WorkerJob;
use crate::protocol::Merge as MergeJob;

/// The planned layer's entries, as the build will make them (contents are not needed here).
fn planned(draft: DraftState) -> Result<Vec<Entry<()>>, layerize_core::Error> {
    let prefix = draft.prefix().get();
    let mut plan = Plan::new();
    draft.rows().with(|rows| {
        for row in rows {
            let path = LayerPath::new(&row.destination(&prefix))?;
            let mode = if row.exec { MODE_EXEC } else { MODE_FILE };
            plan.add(path, EntryKind::File { mode, size: row.size, source: () })?;
        }
        Ok::<_, layerize_core::Error>(())
    })?;
    for delete in draft.deletes().get() {
        plan.add(LayerPath::new(&delete)?, EntryKind::Whiteout)?;
    }
    Ok(plan.into_entries())
}

fn kind_and_size(kind: &layerize_core::layer::read::Kind, size: u64) -> String {
    match kind.name() {
        "file" | "hardlink" => format!("{} {}", kind.name(), human(size)),
        other => other.to_owned(),
    }
}

fn report_view(report: Shadowing) -> impl IntoView {
    let replaced = report
        .replaced
        .into_iter()
        .map(|r| {
            let below = (r.removed_below > 0).then(|| format!(" and {} paths under it", r.removed_below));
            view! {
                <tr class="replaced">
                    <td class="path"><code>{r.path}</code></td>
                    <td class="base">{kind_and_size(&r.base, r.base_size)} " (layer " {r.base_layer} ")" {below}</td>
                    <td class="new">{kind_and_size(&r.new, r.new_size)}</td>
                </tr>
            }
        })
        .collect_view();
    let deletions = report
        .deletions
        .into_iter()
        .map(|d| {
            let missing = d.base.is_none();
            let found = match &d.base {
                Some((kind, layer)) => format!(
                    "removes {} (layer {layer}): {} paths, {} of files",
                    kind.name(),
                    d.removed,
                    human(d.removed_bytes)
                ),
                None => "not in the base: this whiteout deletes nothing".to_owned(),
            };
            view! {
                <tr class="deletion" class:missing=missing>
                    <td class="path"><code>{d.path}</code></td>
                    <td class="found">{found}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <p id="shadow-summary">"The layer adds " <span id="shadow-added-bytes" data-bytes=report.added_bytes.to_string()>{human(report.added_bytes)}</span>
           " of files (" <span id="shadow-new-paths">{report.new_paths}</span> " paths the base lacks) and hides "
           <span id="shadow-hidden-bytes" data-bytes=report.hidden_bytes.to_string()>{human(report.hidden_bytes)}</span>
           " of the base's files, which stay in its layers."</p>
        <h4>"Replaces in the base"</h4>
        <table id="shadow-replaced"><thead><tr><th>"Path"</th><th>"Base has"</th><th>"New"</th></tr></thead><tbody>{replaced}</tbody></table>
        <h4>"Deletes (whiteouts)"</h4>
        <table id="shadow-deletes"><thead><tr><th>"Path"</th><th>"In the base"</th></tr></thead><tbody>{deletions}</tbody></table>
    }
}

/// The comparison, shown once files or deletions are planned on a loaded base.
#[component]
pub fn ShadowSection() -> impl IntoView {
    let (base, draft) = (expect_context::<BaseState>(), expect_context::<DraftState>());
    let (logins, failures) = (expect_context::<RwSignal<Logins>>(), expect_context::<Failures>());
    let base_entries = RwSignal::new(Vec::<MergedEntry>::new());
    let state = RwSignal::new(Merge::Idle);
    // Which image `base_entries` lists: choosing another base makes it stale.
    let listed = RwSignal::new(None::<Digest>);
    let job: StoredValue<Option<WorkerJob<MergeJob>>, LocalStorage> = StoredValue::new_local(None);
    // Closing the view drops the job, which stops its worker.
    on_cleanup(move || {
        job.try_update_value(|j| *j = None);
    });
    let current = move || base.image().with(|i| i.as_ref().map(|i| i.manifest.digest().clone()));
    let compare = move |_| {
        let (Some(origin), Some(image)) = (base.layer_origin(&logins.get_untracked()), base.image().get_untracked())
        else {
            return failures.fail(Section::Base, "load a base image first");
        };
        listed.set(Some(image.manifest.digest().clone()));
        start_merge(origin, image.manifest.layers.clone(), base_entries, state, job);
    };
    let fresh = move || state.get() == Merge::Done && listed.get() == current();
    let report = move || {
        if !fresh() {
            return None;
        }
        Some(match planned(draft) {
            Ok(entries) => base_entries.with(|base| report_view(shadowing(base, &entries))).into_any(),
            Err(e) => view! { <p id="shadow-plan-error" class="error">{e.to_string()}</p> }.into_any(),
        })
    };
    let planning = move || {
        base.image().with(Option::is_some)
            && (draft.rows().with(|r| !r.is_empty()) || draft.deletes().with(|d| !d.is_empty()))
    };
    let busy = move || matches!(state.get(), Merge::Reading { .. });
    view! {
        <Show when=planning>
            <section id="shadow">
                <h3>"What the new layer changes in the base"</h3>
                <p><button id="shadow-compare" disabled=busy on:click=compare>"Compare with the base's files"</button> " "
                   <span id="shadow-status" data-done=move || fresh().to_string() class:error=move || matches!(state.get(), Merge::Failed(_))>
                       {move || if state.get() == Merge::Done && !fresh() { "the base changed: compare again".to_owned() } else { state.get().describe() }}</span></p>
                {report}
            </section>
        </Show>
    }
}
