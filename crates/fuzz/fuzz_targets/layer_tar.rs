//! The layer reader (`layer::read::LayerReader`) over arbitrary blobs: as given (a plain tar,
//! or gzip when the bytes start like it), and gzip-wrapped so the tar parser behind the
//! decompressor sees the fuzzer's bytes too, with and without the CRC check. Every entry is
//! drained; one mode extracts a member's content.
//! The push decoder (`layer::decode::LayerDecoder`) fed the same blob in small chunks
//! gives the same events as fed in one.
//! Properties: never panics, never reads past a bounded amount, never loops.
#![no_main]

use layerize_core::layer::decode::{Event, LayerDecoder};
use layerize_core::layer::read::LayerReader;
use layerize_fuzz::{gzip, CappedSink, MAX_OUT};
use libfuzzer_sys::fuzz_target;

/// What a decoder fed `chunk` bytes at a time says: each member's path and content length
/// (content capped), and the error that ended it.
fn events(blob: &[u8], chunk: usize) -> (Vec<(String, u64)>, Option<String>) {
    let mut decoder = LayerDecoder::new("fuzz", true);
    let mut chunks = blob.chunks(chunk);
    let (mut members, mut content) = (Vec::new(), 0u64);
    loop {
        match decoder.poll() {
            Ok(Some(Event::Member(m))) => members.push((m.entry.path.clone(), 0)),
            Ok(Some(Event::Data(data))) => {
                content += data.len() as u64;
                if content > MAX_OUT {
                    // A bomb: where it stops depends on the chunking, so only the paths count.
                    return (members.into_iter().map(|(path, _)| (path, 0)).collect(), Some("capped".into()));
                }
                if let Some(last) = members.last_mut() {
                    last.1 += data.len() as u64;
                }
            }
            Ok(Some(Event::End)) => return (members, None),
            Ok(None) => match chunks.next() {
                Some(c) => decoder.feed(c),
                None => decoder.finish(),
            },
            Err(e) => return (members, Some(e.to_string())),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, blob)) = data.split_first() else { return };
    let blob = match mode % 4 {
        0 | 3 => blob.to_vec(),
        _ => gzip(blob),
    };
    if blob.len() < 64 << 10 {
        let chunk = usize::from(mode / 4) + 1;
        assert_eq!(events(&blob, chunk), events(&blob, blob.len().max(1)), "chunks of {chunk}");
    }
    let open = if mode % 4 == 2 { LayerReader::new_digest_checked } else { LayerReader::new };
    let Ok(mut reader) = open("fuzz", &blob[..]) else { return };
    let _ = reader.compression();

    if mode % 4 == 3 {
        // The first regular file's content, found by its listed path in a second reader.
        let first_file = match reader.entries() {
            Ok(mut entries) => entries.find_map(|e| e.ok().filter(|e| e.kind.name() == "file")).map(|e| e.path),
            Err(_) => None,
        };
        let Some(path) = first_file else { return };
        let Ok(mut again) = open("fuzz", &blob[..]) else { return };
        let mut sink = CappedSink::default();
        if let Ok(n) = again.extract(&path, &mut sink) {
            assert_eq!(n, sink.written);
        }
        return;
    }

    let Ok(entries) = reader.entries() else { return };
    let mut errors = 0;
    for entry in entries {
        match entry {
            Ok(entry) => {
                assert!(entry.path.starts_with('/'), "{:?}", entry.path);
                assert!(entry.mode <= 0o7777);
                let _ = (entry.kind.name(), entry.kind.detail());
                let _ = serde_json::to_vec(&entry);
            }
            Err(e) => {
                errors += 1;
                let _ = e.to_string();
            }
        }
    }
    assert!(errors <= 1, "iteration stops after the first error");
});
