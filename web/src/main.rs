//! Mounts the page.

fn main() {
    // A bug must not fail silently: show the panic where a person (and a test) sees errors.
    std::panic::set_hook(Box::new(|info| {
        let text = format!("internal error, please report: {info}");
        web_sys::console::error_1(&text.clone().into());
        if let Some(body) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.body()) {
            let _ = body.insert_adjacent_html(
                "afterbegin",
                &format!("<div id=\"error\" class=\"error\" role=\"alert\">{}</div>", html_escape(&text)),
            );
        }
    }));
    leptos::mount::mount_to_body(layerize_web::App);
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
