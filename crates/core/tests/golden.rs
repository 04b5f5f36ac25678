//! The pinned layer format, checked natively and (with `wasm-bindgen-test`) inside Chromium:
//! the same entries must give the same digests in the CLI and in the page, in each pinned
//! gzip profile (1: every block deflated; 2, the default: noise stored).

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::io::{Cursor, Read};

use layerize_core::layer::gzip::{Profile, Sequential, BLOCK_SIZE};
use layerize_core::layer::{write_layer, EntryKind, LayerOptions, LayerPath, Plan, MODE_EXEC, MODE_FILE};
use layerize_core::{Digest, Reference};

fn build(plan: Plan<Vec<u8>>, gzip: Profile) -> (layerize_core::layer::LayerDigests, Vec<u8>) {
    let entries = plan.into_entries();
    write_layer(
        &entries,
        &LayerOptions { gzip, ..LayerOptions::default() },
        |s: &Vec<u8>| Ok(Cursor::new(s.clone())),
        Sequential,
        Vec::new(),
        &mut |_| {},
    )
    .expect("layer")
}

/// Each profile's output for a fixed input spanning two gzip blocks. If one changes, every
/// layer digest users have built with it changes: never update these; a deliberate change is
/// a new profile with goldens of its own.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn golden_digest() {
    let (d, blob) = build(golden_plan(), Profile::Pinned1);
    assert_eq!(d.diff_id.as_str(), "sha256:c080ef13cdf7e02b4a8119ceb3af14822e058f958855b419d91b09573187b202");
    assert_eq!(d.digest.as_str(), "sha256:3b353088a013a336f96b5dc78e5a14ea1f022ca29b38ed924eec2e536821c534");
    assert_eq!(d.size, 44093);
    assert_eq!(Digest::sha256(&blob), d.digest);
}

/// The same input in profile 2: its bytes are evenly spread but shrink, so nothing is stored
/// and the blob is profile 1's.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn golden_digest_profile_2() {
    let (d, blob) = build(golden_plan(), Profile::Pinned2);
    assert_eq!(d.diff_id.as_str(), "sha256:c080ef13cdf7e02b4a8119ceb3af14822e058f958855b419d91b09573187b202");
    assert_eq!(d.digest.as_str(), "sha256:3b353088a013a336f96b5dc78e5a14ea1f022ca29b38ed924eec2e536821c534");
    assert_eq!(d.size, 44093);
    assert_eq!(Digest::sha256(&blob), d.digest);
    assert_eq!(build(golden_plan(), Profile::default()).0, d, "profile 2 is the default");
}

fn golden_plan() -> Plan<Vec<u8>> {
    let big: Vec<u8> = (0..3 * BLOCK_SIZE as u32 / 2).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let mut plan = Plan::new();
    let file = |data: &[u8], mode| EntryKind::File { mode, size: data.len() as u64, source: data.to_vec() };
    plan.add(LayerPath::new("/a.txt").expect("path"), file(b"layerize\n", MODE_FILE)).expect("add");
    plan.add(LayerPath::new("/bin/tool").expect("path"), file(&big, MODE_EXEC)).expect("add");
    plan.add(LayerPath::new("/etc/motd").expect("path"), EntryKind::Whiteout).expect("add");
    plan.add(LayerPath::new("/bin/sh").expect("path"), EntryKind::Symlink { target: "busybox".into() }).expect("add");
    plan
}

/// Incompressible input over several blocks: deflate's own choice of stored blocks in
/// profile 1, the noise rule's in profile 2.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn golden_random_blocks() {
    for (profile, digest, size) in [
        (Profile::Pinned1, "sha256:8050b8bf48b5bc435f1ff12d225e227bee42ce59e08693553ecc44f5bb585eb5", None),
        (Profile::Pinned2, "sha256:5efec349346811178f8a21bfb68013978b5c929bc428f7a7926d5fc9aed25965", Some(2102240)),
    ] {
        let (d, blob) = build(random_plan(), profile);
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut tar).expect("gunzip");
        assert_eq!(Digest::sha256(&tar), d.diff_id);
        assert_eq!(d.digest.as_str(), digest, "{profile:?}");
        if let Some(size) = size {
            assert_eq!(d.size, size, "{profile:?}");
        }
    }
}

/// Profile 2 on a layer of both kinds: text and counters deflated, noise stored, in one blob.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn golden_mixed_profile_2() {
    let mut plan = golden_plan();
    let text: Vec<u8> =
        (0..BLOCK_SIZE as u32 + 999).flat_map(|i| format!("line {i} of the layer\n").into_bytes()).collect();
    let noise = random_bytes(BLOCK_SIZE + 12345);
    let file = |data: Vec<u8>| EntryKind::File { mode: MODE_FILE, size: data.len() as u64, source: data };
    plan.add(LayerPath::new("/doc/text").expect("path"), file(text[..2 * BLOCK_SIZE].to_vec())).expect("add");
    plan.add(LayerPath::new("/doc/noise").expect("path"), file(noise)).expect("add");
    let (d, blob) = build(plan, Profile::Pinned2);
    assert_eq!(d.diff_id.as_str(), "sha256:4f805b89df7ee5aa199aa2386809d47762a30ff2bd1daeab93baeeb1067cf3df");
    assert_eq!(d.digest.as_str(), "sha256:85f6e7b4387905967a44123591b3dc0827d8101504c08cd46c2b33033273a667");
    assert_eq!(d.size, 1339412);
    assert_eq!(Digest::sha256(&blob), d.digest);
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn random_plan() -> Plan<Vec<u8>> {
    let data = random_bytes(2 * BLOCK_SIZE + 4321);
    let mut plan = Plan::new();
    plan.add(
        LayerPath::new("/r.bin").expect("path"),
        EntryKind::File { mode: MODE_FILE, size: data.len() as u64, source: data.clone() },
    )
    .expect("add");
    plan
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn references_normalise_the_same_way() {
    let r: Reference = "alpine:3.20".parse().expect("reference");
    assert_eq!(r.to_string(), "docker.io/library/alpine:3.20");
}
