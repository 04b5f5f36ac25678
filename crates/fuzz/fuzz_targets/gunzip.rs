//! The push gzip inflater (`layer::gunzip::GzipInflate`, CRC unchecked) over arbitrary bytes,
//! fed in chunks of 1..=256 bytes so member boundaries fall anywhere, compared with flate2's
//! `MultiGzDecoder` on the same bytes.
//! Properties: never panics or loops; output is capped; where both decoders succeed they
//! agree byte for byte (ours skips only the CRC, so it accepts at least what flate2 does).
#![no_main]

use flate2::read::MultiGzDecoder;
use layerize_core::layer::gunzip::GzipInflate;
use layerize_fuzz::{drain_capped, MAX_OUT};
use libfuzzer_sys::fuzz_target;

/// Inflates `blob` fed `chunk` bytes at a time into an output buffer of `out` bytes.
fn inflate(blob: &[u8], chunk: usize, out: usize) -> std::io::Result<Vec<u8>> {
    let mut inflate = GzipInflate::new(false);
    let (mut pending, mut got, mut buf) = (Vec::new(), Vec::new(), Vec::with_capacity(out));
    for part in blob.chunks(chunk) {
        pending.extend_from_slice(part);
        loop {
            let used = inflate.inflate(&pending, &mut buf)?;
            pending.drain(..used);
            if buf.is_empty() && used == 0 {
                break;
            }
            got.append(&mut buf);
            if got.len() as u64 >= MAX_OUT {
                got.truncate(MAX_OUT as usize);
                return Ok(got);
            }
        }
    }
    inflate.finish(pending.len())?;
    Ok(got)
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, blob)) = data.split_first() else { return };
    let chunk = usize::from(size) + 1;
    let ours = inflate(blob, chunk, 64 << 10);
    let theirs = drain_capped(&mut MultiGzDecoder::new(blob));
    if let (Ok(ours), Ok(theirs)) = (&ours, &theirs) {
        if (ours.len() as u64) < MAX_OUT && (theirs.len() as u64) < MAX_OUT {
            assert!(
                ours == theirs,
                "GzipInflate and MultiGzDecoder disagree ({} vs {} bytes)",
                ours.len(),
                theirs.len()
            );
        }
    }
    if theirs.is_ok() && ours.is_err() && theirs.as_ref().is_ok_and(|t| (t.len() as u64) < MAX_OUT) {
        panic!("flate2 reads a stream GzipInflate refuses: {:?}", ours.err());
    }
    // A one-byte output buffer must give the same bytes as a large one.
    let small = inflate(&blob[..blob.len().min(4096)], chunk, 1);
    let whole = inflate(&blob[..blob.len().min(4096)], 4096, 64 << 10);
    if let (Ok(small), Ok(whole)) = (&small, &whole) {
        assert_eq!(small, whole);
    }
    assert_eq!(small.is_ok(), whole.is_ok());
});
