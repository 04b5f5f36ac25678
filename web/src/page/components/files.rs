//! Step 2: the files of the new layer (dropped, or picked with the file and folder pickers)
//! and the paths to delete from the base.

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{DragEvent, File, FileSystemDirectoryEntry, FileSystemEntry, FileSystemFileEntry, HtmlInputElement};

use super::app::SectionError;
use super::inspect::human;
use crate::js_error::js_text;
use crate::page::failure::Section;
use crate::page::state::{DraftState, Failures};

fn from_input(input: &HtmlInputElement) -> Vec<(String, File)> {
    let Some(list) = input.files() else { return Vec::new() };
    let files = (0..list.length())
        .filter_map(|i| list.get(i))
        .map(|f| {
            // A folder picker gives `folder/sub/file`; a file picker just the name.
            let rel = js_sys::Reflect::get(&f, &"webkitRelativePath".into())
                .ok()
                .and_then(|v| v.as_string())
                .filter(|s| !s.is_empty());
            (rel.unwrap_or_else(|| f.name()), f)
        })
        .collect();
    input.set_value("");
    files
}

/// Walks a dropped file or folder (folders recursively) into `(relative path, File)` pairs.
async fn walk(entry: FileSystemEntry, prefix: String, out: &mut Vec<(String, File)>) -> Result<(), JsValue> {
    let mut stack = vec![(entry, prefix)];
    while let Some((entry, prefix)) = stack.pop() {
        let path = if prefix.is_empty() { entry.name() } else { format!("{prefix}/{}", entry.name()) };
        if entry.is_file() {
            let file_entry: FileSystemFileEntry = entry.unchecked_into();
            let promise = js_sys::Promise::new(&mut |resolve, reject| {
                file_entry.file_with_callback_and_callback(&resolve, &reject)
            });
            let file: File = JsFuture::from(promise).await?.unchecked_into();
            out.push((path, file));
        } else if entry.is_directory() {
            let dir: FileSystemDirectoryEntry = entry.unchecked_into();
            let reader = dir.create_reader();
            // readEntries returns entries in batches until it returns an empty one.
            loop {
                let promise = js_sys::Promise::new(&mut |resolve, reject| {
                    let _ = reader.read_entries_with_callback_and_callback(&resolve, &reject);
                });
                let batch: js_sys::Array = JsFuture::from(promise).await?.unchecked_into();
                if batch.length() == 0 {
                    break;
                }
                for child in batch.iter() {
                    stack.push((child.unchecked_into(), path.clone()));
                }
            }
        }
    }
    Ok(())
}

/// Adds what was dropped: files, and folders with everything in them.
fn on_drop(draft: DraftState, failures: Failures, ev: DragEvent) {
    ev.prevent_default();
    let Some(items) = ev.data_transfer().map(|d| d.items()) else { return };
    // Entries must be taken during the event; reading them can happen later.
    let entries: Vec<FileSystemEntry> = (0..items.length())
        .filter_map(|i| items.get(i))
        .filter_map(|item| item.webkit_get_as_entry().ok().flatten())
        .collect();
    spawn_local(async move {
        let mut files = Vec::new();
        for entry in entries {
            if let Err(e) = walk(entry, String::new(), &mut files).await {
                return failures.fail(Section::Files, format!("reading the dropped files failed: {}", js_text(&e)));
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        draft.add_files(files);
    });
}

#[component]
pub fn FilesSection() -> impl IntoView {
    let (draft, failures) = (expect_context::<DraftState>(), expect_context::<Failures>());
    let folder: NodeRef<html::Input> = NodeRef::new();
    Effect::new(move |_| {
        if let Some(el) = folder.get() {
            let _ = el.set_attribute("webkitdirectory", "");
        }
    });
    let delete_input = RwSignal::new(String::new());
    let hover = RwSignal::new(false);
    let add_delete = move || {
        let path = delete_input.get_untracked().trim().to_owned();
        if path.is_empty() {
            return;
        }
        draft.add_delete(path);
        delete_input.set(String::new());
    };
    let rows = move || {
        let prefix = draft.prefix().get();
        draft.rows().get().into_iter().map(|row| {
            let id = row.id;
            let dest = row.destination(&prefix);
            view! {
                <tr class="file-row">
                    <td><input class="dest" type="text" prop:value=dest aria-label="destination path"
                        on:change=move |ev| {
                            let v = event_target_value(&ev);
                            draft.edit_row(id, |r| r.dest = Some(v));
                        } /></td>
                    <td class="num size" data-bytes=row.size.to_string()>{human(row.size)}</td>
                    <td><label><input class="exec" type="checkbox" prop:checked=row.exec
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            draft.edit_row(id, |r| r.exec = on);
                        } />{move || if draft.rows().with(|r| r.iter().any(|x| x.id == id && x.exec)) { " 0755" } else { " 0644" }}</label></td>
                    <td><button class="remove" on:click=move |_| draft.remove_row(id)>"remove"</button></td>
                </tr>
            }
        }).collect_view()
    };
    view! {
        <section id="files">
            <h2>"2. Files"</h2>
            <div id="drop" class:hover=move || hover.get()
                on:dragover=move |ev: DragEvent| { ev.prevent_default(); hover.set(true); }
                on:dragleave=move |_| hover.set(false)
                on:drop=move |ev: DragEvent| { hover.set(false); on_drop(draft, failures, ev); }>
                <p>"Drop files and folders here, or pick them:"</p>
                // The inputs are hidden (their own buttons say "Choose Files" even for a folder);
                // the labels are the buttons.
                <label class="button picker" id="file-picker">"Choose files…" <input id="file-input" class="picker-input" type="file" multiple
                    on:change=move |ev| draft.add_files(from_input(&event_target::<HtmlInputElement>(&ev))) /></label>
                " "
                <label class="button picker" id="folder-picker">"Choose a folder…" <input id="folder-input" class="picker-input" type="file" multiple node_ref=folder
                    on:change=move |ev| draft.add_files(from_input(&event_target::<HtmlInputElement>(&ev))) /></label>
            </div>
            <label>"Put them under " <input id="prefix" type="text" prop:value=move || draft.prefix().get()
                on:input=move |ev| draft.set_prefix(event_target_value(&ev)) /></label>
            <table id="rows"><thead><tr><th>"Destination"</th><th>"Size"</th><th>"Executable"</th><th></th></tr></thead>
                <tbody>{rows}</tbody></table>
            <h3>"Delete from the base"</h3>
            <form class="row" on:submit=move |ev| { ev.prevent_default(); add_delete(); }>
                <input id="delete-path" type="text" placeholder="/etc/motd" prop:value=move || delete_input.get()
                    on:input=move |ev| delete_input.set(event_target_value(&ev)) />
                <button id="delete-add" type="submit">"Add"</button>
            </form>
            <ul id="deletes">{move || draft.deletes().get().into_iter().enumerate().map(|(i, d)| view! {
                <li><code>{d}</code> " " <button type="button" class="delete-remove" title="Keep this path"
                    on:click=move |_| draft.remove_delete(i)>"remove"</button></li>
            }).collect_view()}</ul>
            <SectionError section=Section::Files />
        </section>
    }
}
