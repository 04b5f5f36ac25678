//! The pinned layer format, checked natively and (with `wasm-bindgen-test`) inside Chromium:
//! the same entries must give the same digests in the CLI and in the page.

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use std::io::{Cursor, Read};

use layerize_core::layer::gzip::{Sequential, BLOCK_SIZE};
use layerize_core::layer::{write_layer, EntryKind, LayerOptions, LayerPath, Plan, MODE_EXEC, MODE_FILE};
use layerize_core::{Digest, Reference};

fn build(plan: Plan<Vec<u8>>) -> (layerize_core::layer::LayerDigests, Vec<u8>) {
    let entries = plan.into_entries();
    write_layer(
        &entries,
        &LayerOptions::default(),
        |s: &Vec<u8>| Ok(Cursor::new(s.clone())),
        Sequential,
        Vec::new(),
        &mut |_| {},
    )
    .expect("layer")
}

/// The profile's output for a fixed input spanning two gzip blocks. If this changes, every
/// layer digest users have built changes: only update it with a deliberate profile change.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn golden_digest() {
    let big: Vec<u8> = (0..3 * BLOCK_SIZE as u32 / 2).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let mut plan = Plan::new();
    let file = |data: &[u8], mode| EntryKind::File { mode, size: data.len() as u64, source: data.to_vec() };
    plan.add(LayerPath::new("/a.txt").expect("path"), file(b"layerize\n", MODE_FILE)).expect("add");
    plan.add(LayerPath::new("/bin/tool").expect("path"), file(&big, MODE_EXEC)).expect("add");
    plan.add(LayerPath::new("/etc/motd").expect("path"), EntryKind::Whiteout).expect("add");
    plan.add(LayerPath::new("/bin/sh").expect("path"), EntryKind::Symlink { target: "busybox".into() }).expect("add");
    let (d, blob) = build(plan);
    assert_eq!(d.diff_id.as_str(), "sha256:c080ef13cdf7e02b4a8119ceb3af14822e058f958855b419d91b09573187b202");
    assert_eq!(d.digest.as_str(), "sha256:3b353088a013a336f96b5dc78e5a14ea1f022ca29b38ed924eec2e536821c534");
    assert_eq!(d.size, 44093);
    assert_eq!(Digest::sha256(&blob), d.digest);
}

/// Incompressible input over several blocks: the stored-block path of deflate.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn golden_random_blocks() {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let data: Vec<u8> = (0..(2 * BLOCK_SIZE + 4321))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut plan = Plan::new();
    plan.add(
        LayerPath::new("/r.bin").expect("path"),
        EntryKind::File { mode: MODE_FILE, size: data.len() as u64, source: data.clone() },
    )
    .expect("add");
    let (d, blob) = build(plan);
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut tar).expect("gunzip");
    assert_eq!(Digest::sha256(&tar), d.diff_id);
    assert_eq!(d.digest.as_str(), "sha256:8050b8bf48b5bc435f1ff12d225e227bee42ce59e08693553ecc44f5bb585eb5");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn references_normalise_the_same_way() {
    let r: Reference = "alpine:3.20".parse().expect("reference");
    assert_eq!(r.to_string(), "docker.io/library/alpine:3.20");
}
