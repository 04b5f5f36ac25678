//! The page's address as shareable state: `?image=REF&platform=os/arch[/variant]` names what the
//! base section shows, read once on load and kept current with `history.replaceState`.

use web_sys::UrlSearchParams;

/// What the address asks the page to show.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shared {
    pub image: Option<String>,
    pub platform: Option<String>,
}

/// The `image` and `platform` parameters of the current address.
pub fn read() -> Shared {
    let Some(search) = web_sys::window().and_then(|w| w.location().search().ok()) else {
        return Shared::default();
    };
    let Ok(params) = UrlSearchParams::new_with_str(&search) else {
        return Shared::default();
    };
    let get = |name: &str| params.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    Shared { image: get("image"), platform: get("platform") }
}

/// Replaces the address (no new history entry) with one that opens `image` at `platform`.
pub fn replace(image: &str, platform: Option<&str>) {
    let Ok(params) = UrlSearchParams::new() else { return };
    params.append("image", image);
    if let Some(p) = platform {
        params.append("platform", p);
    }
    set_query(&format!("?{}", String::from(params.to_string())));
}

/// Drops the parameters: what the page shows cannot be shared (a base from a local file).
pub fn clear() {
    set_query("");
}

fn set_query(query: &str) {
    let Some(window) = web_sys::window() else { return };
    let path = window.location().pathname().unwrap_or_else(|_| "/".into());
    let url = format!("{path}{query}");
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}
