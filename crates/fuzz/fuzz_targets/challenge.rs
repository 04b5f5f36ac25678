//! `WWW-Authenticate` header values as a registry (or anything pretending to be one) sends
//! them, parsed by the registry client's `Challenge::parse`.
//! Properties: never panics; the scheme is non-empty and lowercase, parameter names are
//! non-empty and lowercase; writing the challenge back out (values quoted and escaped)
//! parses to the same challenge.
#![no_main]

use layerize_registry::auth::Challenge;
use libfuzzer_sys::fuzz_target;

/// The challenge as a header value: `scheme name="value", …` with `\` and `"` escaped.
fn render(c: &Challenge) -> String {
    let params: Vec<String> =
        c.params.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))).collect();
    format!("{} {}", c.scheme, params.join(", "))
}

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else { return };
    let Some(c) = Challenge::parse(header) else { return };
    assert!(!c.scheme.is_empty());
    assert_eq!(c.scheme, c.scheme.to_ascii_lowercase());
    for name in c.params.keys() {
        assert!(!name.is_empty());
        assert_eq!(name, &name.to_ascii_lowercase());
        assert_eq!(c.param(name), c.params.get(name).map(String::as_str));
    }
    let rendered = render(&c);
    assert_eq!(Challenge::parse(&rendered).as_ref(), Some(&c), "{header:?} rendered as {rendered:?}");
});
