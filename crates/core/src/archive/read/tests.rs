use std::io::Cursor;

use tar::EntryType;

use super::*;
use crate::archive::members::tests::tar_of;
use crate::archive::oci_layout::{index_json, named};
use crate::archive::write::tests::{image, layer};

const AMD64: fn() -> Platform = || Platform::new("linux", "amd64", None);

fn find(tar: &[u8]) -> Result<Vec<Found>, Error> {
    let members = Members::scan(Cursor::new(tar))?;
    find_images(&members, &mut Cursor::new(tar), &AMD64(), false)
}

/// A legacy `docker save`: uncompressed layers in `<id>/layer.tar`, the repeated one a
/// symlink, config as `<hex>.json`, `./` prefixes, manifest.json last.
fn legacy(config_override: Option<Vec<u8>>) -> (Vec<u8>, Vec<Digest>) {
    let (t1, _) = layer("a.txt", b"first");
    let ids = vec![Digest::sha256(&t1), Digest::sha256(&t1)];
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}","{}"]}}}}"#,
        ids[0], ids[1]
    )
    .into_bytes();
    let config_name = format!("./{}.json", Digest::sha256(&config).hex());
    let manifest =
        format!(r#"[{{"Config":"{config_name}","RepoTags":["app:1"],"Layers":["./aaa/layer.tar","bbb/layer.tar"]}}]"#);
    let tar = tar_of(&[
        ("./", EntryType::Directory, vec![], None),
        ("./aaa/", EntryType::Directory, vec![], None),
        ("./aaa/layer.tar", EntryType::Regular, t1, None),
        ("./bbb/layer.tar", EntryType::Symlink, vec![], Some("../aaa/layer.tar")),
        (&config_name, EntryType::Regular, config_override.unwrap_or(config), None),
        ("./manifest.json", EntryType::Regular, manifest.into_bytes(), None),
    ]);
    (tar, ids)
}

#[test]
fn legacy_docker_save_builds_a_docker_manifest_over_the_layers_as_stored() {
    let (tar, ids) = legacy(None);
    let found = find(&tar).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].names[0].to_string(), "docker.io/library/app:1");
    let Content::Image(image) = &found[0].content else { panic!() };
    assert!(image.built);
    assert_eq!(image.manifest.media_type(), &MediaType::DockerManifest);
    assert_eq!(image.manifest.config.media_type, MediaType::DockerConfig);
    for (layer, id) in image.layers.iter().zip(&ids) {
        assert_eq!(layer.descriptor.media_type, MediaType::DockerLayer);
        assert_eq!(&layer.descriptor.digest, id, "an uncompressed layer's digest is its diffID");
        assert_eq!(layer.member.path, "aaa/layer.tar", "the symlinked repeat reads the same member");
        assert_eq!(layer.expected().diff_id.as_ref(), Some(id));
    }
}

#[test]
fn a_config_that_does_not_match_its_name_is_refused() {
    let (tar, _) =
        legacy(Some(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec()));
    match find(&tar) {
        Err(Error::MemberMismatch { member, what, .. }) => {
            assert!(member.ends_with(".json"), "{member}");
            assert_eq!(what, "digest");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_members_and_escapes_are_named() {
    let manifest = br#"[{"Config":"c.json","RepoTags":["app:1"],"Layers":["gone/layer.tar"]}]"#.to_vec();
    let config = br#"{"rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}}"#.to_vec();
    let tar = tar_of(&[
        ("c.json", EntryType::Regular, config.clone(), None),
        ("manifest.json", EntryType::Regular, manifest, None),
    ]);
    match find(&tar) {
        Err(Error::MissingMember { member, named_by }) => {
            assert_eq!((member.as_str(), named_by.as_str()), ("gone/layer.tar", "manifest.json"))
        }
        other => panic!("{other:?}"),
    }
    let manifest = br#"[{"Config":"c.json","RepoTags":["app:1"],"Layers":["../../etc/passwd"]}]"#.to_vec();
    let tar =
        tar_of(&[("c.json", EntryType::Regular, config, None), ("manifest.json", EntryType::Regular, manifest, None)]);
    let e = find(&tar).unwrap_err();
    assert!(e.to_string().contains("`..`") && e.to_string().contains("manifest.json"), "{e}");
    let e = find(&tar_of(&[("x", EntryType::Regular, b"x".to_vec(), None)])).unwrap_err();
    assert!(matches!(e, Error::InvalidArchive { .. }), "{e}");
}

/// An OCI layout (no manifest.json) whose index.json points at a two-platform index.
fn oci_with_index(drop_arm: bool) -> Vec<u8> {
    let (m, c, blobs) = image();
    let mut entries: Vec<(String, EntryType, Vec<u8>, Option<&str>)> = vec![
        ("oci-layout".into(), EntryType::Regular, b"{\"imageLayoutVersion\":\"1.0.0\"}".to_vec(), None),
        (blob_path(&m.config.digest), EntryType::Regular, c.raw().to_vec(), None),
        (blob_path(m.digest()), EntryType::Regular, m.raw().to_vec(), None),
    ];
    for (d, b) in m.layers.iter().zip(&blobs) {
        entries.push((blob_path(&d.digest), EntryType::Regular, b.clone(), None));
    }
    let arm_manifest = m.raw().to_vec().into_iter().chain(b" ".iter().copied()).collect::<Vec<u8>>();
    if !drop_arm {
        entries.push((blob_path(&Digest::sha256(&arm_manifest)), EntryType::Regular, arm_manifest.clone(), None));
    }
    let mut amd = m.descriptor();
    amd.platform = Some(AMD64());
    let mut arm = Descriptor::new(MediaType::OciManifest, Digest::sha256(&arm_manifest), arm_manifest.len() as u64);
    arm.platform = Some(Platform::new("linux", "arm64", Some("v8")));
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [arm.to_json(), amd.to_json()]})).unwrap();
    let index_descriptor = Descriptor::new(MediaType::OciIndex, Digest::sha256(&index), index.len() as u64);
    entries.push((blob_path(&index_descriptor.digest), EntryType::Regular, index, None));
    let top = named(&index_descriptor, &"example.com/multi:1".parse().unwrap());
    entries.push(("index.json".into(), EntryType::Regular, index_json(&[top]), None));
    let refs: Vec<(&str, EntryType, Vec<u8>, Option<&str>)> =
        entries.iter().map(|(n, k, d, l)| (n.as_str(), *k, d.clone(), *l)).collect();
    tar_of(&refs)
}

#[test]
fn a_complete_nested_index_is_found_whole() {
    let found = find(&oci_with_index(false)).unwrap();
    assert_eq!(found[0].names[0].to_string(), "example.com/multi:1");
    match &found[0].content {
        Content::Index { manifests, .. } => assert_eq!(manifests.len(), 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_partial_index_gives_the_image_present() {
    let tar = oci_with_index(true);
    let found = find(&tar).unwrap();
    let Content::Image(image) = &found[0].content else { panic!("expected the amd64 image") };
    assert!(!image.built);
    let members = Members::scan(Cursor::new(&tar)).unwrap();
    let arm = Platform::new("linux", "arm64", None);
    let e = find_images(&members, &mut Cursor::new(&tar), &arm, true).unwrap_err();
    assert!(matches!(e, Error::PlatformNotFound { .. }), "{e}");
}

/// An append's base: the one image of an archive, else an error that says how many it holds.
#[test]
fn single_image_takes_an_archive_of_one() {
    let (m, c, blobs) = image();
    let mut w = crate::archive::ArchiveWriter::new(Vec::new()).unwrap();
    w.add_blob(&m.config, c.raw()).unwrap();
    for (d, bytes) in m.layers.iter().zip(&blobs) {
        w.add_blob(d, bytes).unwrap();
    }
    w.add_image(&m, &c, &["app:1".parse().unwrap()]).unwrap();
    let one = w.finish().unwrap();
    let (manifest, config, layers) = single_image(find(&one).unwrap(), &AMD64()).unwrap();
    assert_eq!(manifest.digest(), m.digest());
    assert_eq!(config.digest(), c.digest());
    assert_eq!(
        layers.iter().map(|l| l.descriptor.digest.clone()).collect::<Vec<_>>(),
        m.layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>()
    );

    let two = find(&one).unwrap().into_iter().chain(find(&one).unwrap()).collect();
    let e = single_image(two, &AMD64()).unwrap_err();
    assert!(e.to_string().contains("holds 2 images"), "{e}");
}

/// Counts the bytes read through it.
struct Counting<'a> {
    inner: Cursor<&'a [u8]>,
    read: u64,
}

impl std::io::Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for Counting<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(to)
    }
}

/// A gzip layer member that `manifest.json` names many times is hashed once: hashing it per
/// mention made a small crafted archive take minutes (found with the `archive` fuzz target).
#[test]
fn a_layer_named_many_times_is_hashed_once() {
    let times = 200;
    let mut layer = vec![0x1f, 0x8b];
    layer.extend((0..64u32 << 10).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8));
    let diff_id = Digest::sha256(b"tar");
    let ids = vec![format!("\"{diff_id}\""); times].join(",");
    let config = format!(r#"{{"rootfs":{{"type":"layers","diff_ids":[{ids}]}}}}"#).into_bytes();
    let layers = vec!["\"l.gz\""; times].join(",");
    let manifest = format!(r#"[{{"Config":"c.json","RepoTags":[],"Layers":[{layers}]}}]"#).into_bytes();
    let tar = tar_of(&[
        ("l.gz", EntryType::Regular, layer.clone(), None),
        ("c.json", EntryType::Regular, config, None),
        ("manifest.json", EntryType::Regular, manifest, None),
    ]);
    let members = Members::scan(Cursor::new(&tar[..])).unwrap();
    let mut reader = Counting { inner: Cursor::new(&tar[..]), read: 0 };
    let found = find_images(&members, &mut reader, &AMD64(), false).unwrap();
    let image = &found[0].images()[0];
    assert_eq!(image.layers.len(), times);
    assert!(image.layers.iter().all(|l| l.descriptor.digest == Digest::sha256(&layer)));
    assert!(reader.read < 2 * tar.len() as u64, "read {} bytes of a {}-byte archive", reader.read, tar.len());
}
