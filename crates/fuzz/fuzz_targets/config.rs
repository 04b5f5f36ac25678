//! Image config bytes: parsing, every read accessor, the `inspect` report beside a manifest,
//! and the edit an append makes.
//! Properties: parsing never panics; an edited config parses again and lists one more diffID.
#![no_main]

use layerize_core::config::{Config, ConfigChanges, History};
use layerize_core::inspect::ImageReport;
use layerize_core::manifest::Manifest;
use layerize_core::Digest;
use libfuzzer_sys::fuzz_target;

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":32}]}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = Config::parse("fuzz", data.to_vec()) else { return };
    assert_eq!(config.digest(), &Digest::sha256(data));
    let ids = config.diff_ids().expect("parse checked the diffIDs");
    let _ = config.history();
    let _ = config.platform().to_string();
    let summary = config.summary();
    let _ = serde_json::to_vec(&summary);

    if let Ok(Manifest::Image(manifest)) = Manifest::parse("fuzz", MANIFEST.as_bytes().to_vec(), None) {
        let report = ImageReport::new(&manifest, Some(&config));
        let _ = serde_json::to_vec(&report);
    }

    let layer = Digest::sha256(b"layer");
    let changes = ConfigChanges {
        created: Some("2024-01-01T00:00:00Z".into()),
        env: vec!["PATH=/bin".into(), "NEW=1".into()],
        cmd: Some(vec!["/app".into()]),
        working_dir: Some("/w".into()),
        labels: vec![("k".into(), "v".into())],
        ..ConfigChanges::default()
    };
    for changes in [ConfigChanges::default(), changes] {
        let history = History { created_by: Some("fuzz".into()), ..History::default() };
        let Ok(edited) = config.with_layers(&[(layer.clone(), history)], &changes) else { continue };
        let again = Config::parse("edited", edited).expect("an edited config parses");
        let new_ids = again.diff_ids().expect("an edited config has diffIDs");
        assert_eq!(new_ids.len(), ids.len() + 1);
        assert_eq!(new_ids.last(), Some(&layer));
    }

    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ConfigChanges::parse_command(text);
        let _ = ConfigChanges::parse_key_value(text);
    }
});
