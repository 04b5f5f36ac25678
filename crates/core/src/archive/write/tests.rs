use std::io::{Cursor, Write};

use super::*;
use crate::archive::members::Members;
use crate::archive::read::{find_images, Content};
use crate::manifest::Manifest;
use crate::media_type::MediaType;
use crate::platform::Platform;

/// A one-file layer tar and its gzip.
pub(crate) fn layer(name: &str, data: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_path(name).unwrap();
    h.set_cksum();
    b.append(&h, data).unwrap();
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    (tar, gz.finish().unwrap())
}

/// An OCI image of two gzip layers: (manifest, config, layer blobs).
pub(crate) fn image() -> (ImageManifest, Config, Vec<Vec<u8>>) {
    let (t1, g1) = layer("a.txt", b"first");
    let (t2, g2) = layer("b.txt", b"second");
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}","{}"]}}}}"#,
        Digest::sha256(&t1),
        Digest::sha256(&t2)
    )
    .into_bytes();
    let layers: Vec<Descriptor> = [&g1, &g2]
        .iter()
        .map(|g| Descriptor::new(MediaType::OciLayerGzip, Digest::sha256(g), g.len() as u64))
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": Descriptor::new(MediaType::OciConfig, Digest::sha256(&config), config.len() as u64).to_json(),
        "layers": layers.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
    });
    let Manifest::Image(m) = Manifest::parse("t", serde_json::to_vec(&manifest).unwrap(), None).unwrap() else {
        panic!()
    };
    (m, Config::parse("c", config).unwrap(), vec![g1, g2])
}

fn write(manifest: &ImageManifest, config: &Config, blobs: &[Vec<u8>], names: &[&str]) -> Vec<u8> {
    let mut w = ArchiveWriter::new(Vec::new()).unwrap();
    w.add_blob(&manifest.config, config.raw()).unwrap();
    for (d, bytes) in manifest.layers.iter().zip(blobs) {
        let mut b = w.start_blob(d).unwrap();
        for chunk in bytes.chunks(7) {
            b.write_all(chunk).unwrap();
        }
        b.finish().unwrap();
    }
    let names: Vec<Reference> = names.iter().map(|n| n.parse().unwrap()).collect();
    w.add_image(manifest, config, &names).unwrap();
    w.finish().unwrap()
}

#[test]
fn written_archives_read_back_with_the_exact_manifest() {
    let (m, c, blobs) = image();
    let tar = write(&m, &c, &blobs, &["127.0.0.1:5000/app:1", "127.0.0.1:5000/app:2"]);
    assert_eq!(tar, write(&m, &c, &blobs, &["127.0.0.1:5000/app:1", "127.0.0.1:5000/app:2"]), "deterministic");
    let members = Members::scan(Cursor::new(&tar)).unwrap();
    let found = find_images(&members, &mut Cursor::new(&tar), &Platform::new("linux", "amd64", None), false).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].origin, "manifest.json image 1");
    let names: Vec<String> = found[0].names.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["127.0.0.1:5000/app:1", "127.0.0.1:5000/app:2"]);
    let Content::Image(image) = &found[0].content else { panic!("not an image") };
    assert!(!image.built);
    assert_eq!(image.manifest.raw(), m.raw(), "the exact manifest bytes come back");
    assert_eq!(image.layers[1].diff_id, c.diff_ids().unwrap().get(1).cloned());

    let read = |name: &str| members.file(name, "test").unwrap().read_all(&mut Cursor::new(&tar)).unwrap();
    let manifest_json = String::from_utf8(read("manifest.json")).unwrap();
    assert!(manifest_json.contains(&format!("\"Config\":\"blobs/sha256/{}\"", c.digest().hex())), "{manifest_json}");
    assert!(
        manifest_json.contains("\"RepoTags\":[\"127.0.0.1:5000/app:1\",\"127.0.0.1:5000/app:2\"]"),
        "{manifest_json}"
    );
    let index = String::from_utf8(read("index.json")).unwrap();
    assert!(
        index.contains(
            "\"io.containerd.image.name\":\"127.0.0.1:5000/app:2\",\"org.opencontainers.image.ref.name\":\"2\""
        ),
        "{index}"
    );
    assert!(index.contains("\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}"), "{index}");
    assert_eq!(read("oci-layout"), OCI_LAYOUT_CONTENT);
    assert!(members.has_file("repositories"));
}

#[test]
fn blobs_are_checked_as_they_are_written() {
    let (m, c, blobs) = image();
    let mut w = ArchiveWriter::new(Vec::new()).unwrap();
    let mut b = w.start_blob(&m.layers[0]).unwrap();
    b.write_all(&blobs[1][..m.layers[0].size.min(blobs[1].len() as u64) as usize]).unwrap();
    assert!(matches!(b.finish(), Err(Error::MemberMismatch { .. })));

    let mut w = ArchiveWriter::new(Vec::new()).unwrap();
    let mut b = w.start_blob(&m.layers[0]).unwrap();
    let mut long = blobs[0].clone();
    long.push(0);
    assert!(b.write_all(&long).is_err(), "longer than the descriptor");

    let mut w = ArchiveWriter::new(Vec::new()).unwrap();
    w.add_blob(&m.config, c.raw()).unwrap();
    let e = w.add_image(&m, &c, &[]).unwrap_err();
    assert!(e.to_string().contains("without its blob"), "{e}");
    assert!(ArchiveWriter::new(Vec::new()).unwrap().finish().is_err(), "an archive without images");
}

/// A caller that drains a buffer output between writes (the page writing through promises)
/// ends up with exactly the bytes of one uninterrupted pass.
#[test]
fn draining_the_output_between_writes_keeps_the_bytes() {
    let (m, c, blobs) = image();
    let mut drained = Vec::new();
    let mut w = ArchiveWriter::new(Vec::new()).unwrap();
    w.add_blob(&m.config, c.raw()).unwrap();
    drained.append(w.get_mut());
    for (d, bytes) in m.layers.iter().zip(&blobs) {
        let mut b = w.start_blob(d).unwrap();
        for chunk in bytes.chunks(7) {
            b.write_all(chunk).unwrap();
            drained.append(b.get_mut());
        }
        b.finish().unwrap();
    }
    w.add_image(&m, &c, &["app:1".parse().unwrap()]).unwrap();
    drained.append(w.get_mut());
    drained.extend(w.finish().unwrap());
    assert_eq!(drained, write(&m, &c, &blobs, &["app:1"]));
}
