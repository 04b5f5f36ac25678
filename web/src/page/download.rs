//! Where a file the page makes goes: straight to a file the user picked (the File System
//! Access API writes it to disk as it is made), or, where that API is missing or not wanted,
//! into Blob parts the browser keeps (Chromium moves large ones to disk) that a download link
//! saves at the end. Either way the whole file is never in wasm memory or on the JS heap.

use std::io::Write;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{FileSystemFileHandle, FileSystemWritableFileStream};

use crate::blob_parts::BlobParts;

#[wasm_bindgen]
extern "C" {
    /// `window.showSaveFilePicker` (web-sys has it only behind its unstable-API flag).
    #[wasm_bindgen(catch, js_namespace = window, js_name = showSaveFilePicker)]
    fn show_save_file_picker(options: &JsValue) -> Result<js_sys::Promise, JsValue>;
}

/// Whether this browser can write a file the user picks as it is made.
pub fn can_pick_file() -> bool {
    web_sys::window().is_some_and(|w| js_sys::Reflect::has(&w, &"showSaveFilePicker".into()).unwrap_or(false))
}

/// The picker, opened. It must be opened while handling the click (browsers allow it only
/// during a user gesture), before anything is awaited; [`FileRequest::open`] then waits for
/// the person's choice.
#[derive(Debug)]
pub struct FileRequest(js_sys::Promise);

impl FileRequest {
    /// Opens the save dialog suggesting `name`.
    pub fn ask(name: &str) -> Result<FileRequest, String> {
        let options = js_sys::Object::new();
        let set = |k: &str, v: &JsValue| js_sys::Reflect::set(&options, &k.into(), v).map(drop);
        set("suggestedName", &name.into()).map_err(|e| crate::page::failure::js_text(&e))?;
        let tar = js_sys::Object::new();
        js_sys::Reflect::set(&tar, &"application/x-tar".into(), &js_sys::Array::of1(&".tar".into()))
            .map_err(|e| crate::page::failure::js_text(&e))?;
        let kind = js_sys::Object::new();
        js_sys::Reflect::set(&kind, &"description".into(), &"Image archive (docker load)".into())
            .map_err(|e| crate::page::failure::js_text(&e))?;
        js_sys::Reflect::set(&kind, &"accept".into(), &tar).map_err(|e| crate::page::failure::js_text(&e))?;
        set("types", &js_sys::Array::of1(&kind)).map_err(|e| crate::page::failure::js_text(&e))?;
        show_save_file_picker(&options)
            .map(FileRequest)
            .map_err(|e| format!("cannot open the save dialog: {}", crate::page::failure::js_text(&e)))
    }

    /// The chosen file, opened for writing; `None` when the person cancelled the dialog.
    pub async fn open(self) -> Result<Option<Destination>, String> {
        let handle = match JsFuture::from(self.0).await {
            Ok(h) => h,
            Err(e) if error_name(&e) == "AbortError" => return Ok(None),
            Err(e) => return Err(format!("the save dialog failed: {}", crate::page::failure::js_text(&e))),
        };
        let handle: FileSystemFileHandle =
            handle.dyn_into().map_err(|_| "the save dialog returned no file".to_owned())?;
        let name = handle.name();
        let stream = JsFuture::from(handle.create_writable())
            .await
            .map_err(|e| format!("cannot write {name}: {}", crate::page::failure::js_text(&e)))?;
        let stream: FileSystemWritableFileStream =
            stream.dyn_into().map_err(|_| format!("cannot write {name}: no writable stream"))?;
        Ok(Some(Destination::File { stream, name }))
    }
}

/// An open destination. [`Destination::finish`] completes it; dropping it or
/// [`Destination::abort`] leaves no partial tar: a picked file keeps what it held before (empty
/// if the dialog created it), as the browser writes to a swap file that replaces it only on
/// close.
#[derive(Debug)]
pub enum Destination {
    /// A file the user picked, written as the bytes come.
    File { stream: FileSystemWritableFileStream, name: String },
    /// Blob parts, saved as `name` in the browser's downloads at the end.
    Download { parts: BlobParts, name: String },
}

impl Destination {
    /// A download named `name`, gathered in Blob parts.
    pub fn download(name: &str) -> Destination {
        Destination::Download { parts: BlobParts::new(), name: name.to_owned() }
    }

    /// The file's name, as saved.
    pub fn name(&self) -> &str {
        match self {
            Destination::File { name, .. } | Destination::Download { name, .. } => name,
        }
    }

    /// Appends `bytes`. For a picked file this waits until the browser took them.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self {
            Destination::File { stream, name } => {
                // A copy on the JS heap: the write completes after this returns, and wasm
                // memory may move meanwhile.
                let copy = js_sys::Uint8Array::from(bytes);
                let written = stream
                    .write_with_js_u8_array(&copy)
                    .map_err(|e| format!("writing {name}: {}", crate::page::failure::js_text(&e)))?;
                JsFuture::from(written)
                    .await
                    .map_err(|e| format!("writing {name}: {}", crate::page::failure::js_text(&e)))?;
                Ok(())
            }
            Destination::Download { parts, name } => parts.write_all(bytes).map_err(|e| format!("keeping {name}: {e}")),
        }
    }

    /// Completes the file: closes a picked file (it appears under its name only now), or
    /// hands the gathered Blob to the browser's downloads.
    pub async fn finish(self) -> Result<(), String> {
        match self {
            Destination::File { stream, name } => {
                JsFuture::from(stream.close())
                    .await
                    .map_err(|e| format!("closing {name}: {}", crate::page::failure::js_text(&e)))?;
                Ok(())
            }
            Destination::Download { parts, name } => {
                let blob =
                    parts.finish().map_err(|e| format!("keeping {name}: {}", crate::page::failure::js_text(&e)))?;
                save_blob(&blob, &name)
                    .map_err(|e| format!("downloading {name}: {}", crate::page::failure::js_text(&e)))
            }
        }
    }

    /// Gives up: a picked file is left as it was before the save.
    pub async fn abort(self) {
        if let Destination::File { stream, .. } = self {
            let _ = JsFuture::from(stream.abort()).await;
        }
    }
}

/// How long a download link's object URL stays valid: the browser reads the Blob when the
/// download starts, so this only needs to outlast the click.
const URL_LIFETIME_MS: i32 = 60_000;

/// Saves `blob` as `name` through a temporary `<a download>` link.
pub fn save_blob(blob: &web_sys::Blob, name: &str) -> Result<(), JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let document = window.document().ok_or("no document")?;
    let url = web_sys::Url::create_object_url_with_blob(blob)?;
    let link: web_sys::HtmlAnchorElement = document.create_element("a")?.unchecked_into();
    link.set_href(&url);
    link.set_download(name);
    link.click();
    let revoke = Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    window.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), URL_LIFETIME_MS)?;
    Ok(())
}

/// The `name` of a DOMException (`AbortError` when a dialog was cancelled).
fn error_name(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default()
}
