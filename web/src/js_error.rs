//! JavaScript errors in words, for the page and the worker alike.

use wasm_bindgen::{JsCast, JsValue};

/// A JavaScript error in words: its message when it is an `Error`, else its text; never the
/// value's debug form.
pub fn js_text(e: &JsValue) -> String {
    if let Some(text) = e.as_string() {
        return text;
    }
    match e.dyn_ref::<js_sys::Error>() {
        Some(err) => String::from(err.message()),
        None => {
            js_sys::JSON::stringify(e).ok().map(String::from).unwrap_or_else(|| "the browser gave no reason".to_owned())
        }
    }
}
