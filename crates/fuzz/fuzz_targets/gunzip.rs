//! The CRC-less gzip member reader (`layer::gunzip::Gunzip`) over arbitrary bytes, read
//! through a small buffer so member boundaries fall anywhere, compared with flate2's
//! `MultiGzDecoder` on the same bytes.
//! Properties: never panics or loops; output is capped; where both decoders succeed they
//! agree byte for byte (Gunzip skips only the CRC, so it accepts at least what flate2 does).
#![no_main]

use std::io::{BufReader, Read};

use flate2::read::MultiGzDecoder;
use layerize_core::layer::gunzip::Gunzip;
use layerize_fuzz::{drain_capped, MAX_OUT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&buffer, blob)) = data.split_first() else { return };
    // A BufReader of 1..=256 bytes: headers and trailers then straddle refills.
    let capacity = usize::from(buffer) + 1;
    let ours = drain_capped(&mut Gunzip::new(BufReader::with_capacity(capacity, blob)));
    let theirs = drain_capped(&mut MultiGzDecoder::new(blob));
    if let (Ok(ours), Ok(theirs)) = (&ours, &theirs) {
        if (ours.len() as u64) < MAX_OUT && (theirs.len() as u64) < MAX_OUT {
            assert!(ours == theirs, "Gunzip and MultiGzDecoder disagree ({} vs {} bytes)", ours.len(), theirs.len());
        }
    }
    if theirs.is_ok() && ours.is_err() && theirs.as_ref().is_ok_and(|t| (t.len() as u64) < MAX_OUT) {
        panic!("flate2 reads a stream Gunzip refuses: {:?}", ours.err());
    }
    // Reading into a one-byte buffer must give the same bytes as large reads.
    let mut small = Gunzip::new(BufReader::with_capacity(capacity, blob));
    let mut one = [0u8; 1];
    let mut got = Vec::new();
    while (got.len() as u64) < 4096 {
        match small.read(&mut one) {
            Ok(0) | Err(_) => break,
            Ok(_) => got.push(one[0]),
        }
    }
    if let Ok(ours) = &ours {
        assert_eq!(&got[..], &ours[..got.len().min(ours.len())]);
    }
});
