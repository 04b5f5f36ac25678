//! Where a file the page makes goes: straight to a file the user picked (the File System
//! Access API writes it to disk as it is made), or, where that API is missing or not wanted,
//! into Blob parts the browser keeps (Chromium moves large ones to disk) that a download link
//! saves at the end. Either way the whole file is never in wasm memory or on the JS heap.

use std::io::Write;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{FileSystemFileHandle, FileSystemWritableFileStream};

use super::Error;
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
    pub fn ask(name: &str) -> Result<FileRequest, Error> {
        let options = js_sys::Object::new();
        let set = |o: &js_sys::Object, k: &str, v: &JsValue| js_sys::Reflect::set(o, &k.into(), v).map(drop);
        let tar = js_sys::Object::new();
        let kind = js_sys::Object::new();
        set(&options, "suggestedName", &name.into())
            .and_then(|()| set(&tar, "application/x-tar", &js_sys::Array::of1(&".tar".into())))
            .and_then(|()| set(&kind, "description", &"Image archive (docker load)".into()))
            .and_then(|()| set(&kind, "accept", &tar))
            .and_then(|()| set(&options, "types", &js_sys::Array::of1(&kind)))
            .and_then(|()| show_save_file_picker(&options))
            .map(FileRequest)
            .map_err(|e| Error::browser("cannot open the save dialog", &e))
    }

    /// The chosen file, opened for writing; `None` when the person cancelled the dialog.
    pub async fn open(self) -> Result<Option<Destination>, Error> {
        let handle = match JsFuture::from(self.0).await {
            Ok(h) => h,
            Err(e) if error_name(&e) == "AbortError" => return Ok(None),
            Err(e) => return Err(Error::browser("the save dialog failed", &e)),
        };
        let handle: FileSystemFileHandle = handle.dyn_into().map_err(|_| Error::Browser {
            doing: "the save dialog".to_owned(),
            reason: "it returned no file".to_owned(),
        })?;
        let name = handle.name();
        let stream = JsFuture::from(handle.create_writable())
            .await
            .map_err(|e| Error::browser(format!("cannot write {name}"), &e))?;
        let stream: FileSystemWritableFileStream = stream.dyn_into().map_err(|_| Error::Browser {
            doing: format!("cannot write {name}"),
            reason: "no writable stream".to_owned(),
        })?;
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
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self {
            Destination::File { stream, name } => {
                // A copy on the JS heap: the write completes after this returns, and wasm
                // memory may move meanwhile.
                let copy = js_sys::Uint8Array::from(bytes);
                let written =
                    stream.write_with_js_u8_array(&copy).map_err(|e| Error::browser(format!("writing {name}"), &e))?;
                JsFuture::from(written).await.map_err(|e| Error::browser(format!("writing {name}"), &e))?;
                Ok(())
            }
            Destination::Download { parts, name } => parts
                .write_all(bytes)
                .map_err(|e| Error::Browser { doing: format!("keeping {name}"), reason: e.to_string() }),
        }
    }

    /// Completes the file: closes a picked file (it appears under its name only now), or
    /// hands the gathered Blob to the browser's downloads.
    pub async fn finish(self) -> Result<(), Error> {
        match self {
            Destination::File { stream, name } => {
                JsFuture::from(stream.close()).await.map_err(|e| Error::browser(format!("closing {name}"), &e))?;
                Ok(())
            }
            Destination::Download { parts, name } => {
                let blob = parts.finish().map_err(|e| Error::browser(format!("keeping {name}"), &e))?;
                save_blob(&blob, &name).map_err(|e| Error::browser(format!("downloading {name}"), &e))
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
