//! Image archives (`docker save` tars, OCI layouts in a tar) from arbitrary bytes: the member
//! table, finding the images (with and without a platform the user chose), narrowing to one
//! image, and streaming every located blob through the check `load` and `append` use.
//! Properties: never panics or loops; every blob found lies inside the archive.
#![no_main]

use std::io::{Cursor, Read};

use layerize_core::archive::{find_images, single_image, BlobCheck, Members};
use layerize_core::Platform;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(members) = Members::scan(Cursor::new(data)) else { return };
    assert!(!members.is_empty());
    for name in ["manifest.json", "index.json", "oci-layout", "repositories", "blobs/sha256"] {
        let _ = (members.contains(name), members.has_file(name));
        if let Ok(file) = members.file(name, "fuzz") {
            assert!(file.offset + file.size <= data.len() as u64);
        }
    }

    let platform = Platform::new("linux", "amd64", None);
    for platform_given in [false, true] {
        let mut reader = Cursor::new(data);
        let Ok(found) = find_images(&members, &mut reader, &platform, platform_given) else { continue };
        for f in &found {
            let _ = (f.top(), &f.names, &f.origin);
            for image in f.images() {
                for blob in image.blobs() {
                    let member = &blob.member;
                    assert!(member.offset + member.size <= data.len() as u64, "{member:?}");
                    let mut check = BlobCheck::new(blob.expected());
                    let Ok(mut bytes) = member.reader(&mut reader) else { continue };
                    let mut buf = [0u8; 4096];
                    let mut ok = true;
                    while let Ok(n) = bytes.read(&mut buf) {
                        if n == 0 || check.update(&buf[..n]).is_err() {
                            ok = n == 0;
                            break;
                        }
                    }
                    if ok {
                        let _ = check.finish();
                    }
                }
            }
        }
        let _ = single_image(found, &platform);
    }
});
