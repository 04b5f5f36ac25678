//! Image references, digests, platforms and media types from arbitrary text.
//! Properties: parsing never panics; a parsed reference's Display parses back to the same
//! registry, repository, tag-or-latest and digest, and Display is then a fixed point.
#![no_main]

use layerize_core::{Digest, MediaType, Platform, Reference};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    if let Ok(r) = text.parse::<Reference>() {
        let shown = r.to_string();
        let again: Reference =
            shown.parse().unwrap_or_else(|e| panic!("{text:?} displays as {shown:?}, which does not parse: {e}"));
        assert_eq!(again.to_string(), shown, "Display is not a fixed point for {text:?}");
        assert_eq!(again.registry(), r.registry());
        assert_eq!(again.repository(), r.repository());
        assert_eq!(again.digest(), r.digest());
        assert_eq!(again.selector(), r.selector());
        assert_eq!(again.is_loopback(), r.is_loopback());
        let _ = (r.api_host(), r.name());
        if let Ok(tagged) = r.with_tag("v1.0") {
            assert_eq!(tagged.tag(), Some("v1.0"));
        }
        if let Some(d) = r.digest() {
            let pinned = r.with_digest(d.clone());
            assert_eq!(pinned.to_string().parse::<Reference>().ok().as_ref(), Some(&pinned));
        }
    }

    if let Ok(d) = text.parse::<Digest>() {
        assert_eq!(d.to_string(), text);
        assert_eq!(format!("{}:{}", d.algorithm(), d.hex()), text);
    }

    if let Ok(p) = text.parse::<Platform>() {
        let shown = p.to_string();
        assert_eq!(shown.parse::<Platform>().ok().as_ref(), Some(&p), "{text:?}");
    }

    let m = MediaType::parse(text);
    assert_eq!(MediaType::parse(m.as_str()), m, "{text:?}");
    let _ = (m.is_index(), m.is_image_manifest(), m.is_layer(), m.family(), m.layer_compression());
});
