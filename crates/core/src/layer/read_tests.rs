//! Layers built by hand with the `tar` crate (and by `write_layer`), read back.

use std::io::{Cursor, Write};

use tar::{EntryType, Header};

use super::*;
use crate::flatten::flatten;
use crate::layer::decode::decode_all;

/// A tar built member by member.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Tar {
        Tar(tar::Builder::new(Vec::new()))
    }

    fn header(kind: EntryType, mode: u32, size: u64) -> Header {
        let mut h = Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(1000);
        h.set_gid(100);
        h.set_mtime(1_700_000_000);
        h
    }

    fn file(mut self, path: &str, data: &[u8]) -> Tar {
        let mut h = Tar::header(EntryType::Regular, 0o644, data.len() as u64);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }

    fn dir(mut self, path: &str) -> Tar {
        let mut h = Tar::header(EntryType::Directory, 0o755, 0);
        self.0.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }

    fn link(mut self, kind: EntryType, path: &str, target: &str) -> Tar {
        let mut h = Tar::header(kind, 0o777, 0);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    fn special(mut self, kind: EntryType, path: &str) -> Tar {
        let mut h = Tar::header(kind, 0o600, 0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        self.0.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }

    /// A member whose name and link target travel in a PAX record, as Go and layerize write
    /// names over 100 bytes.
    fn pax_symlink(mut self, path: &str, target: &str) -> Tar {
        self.0.append_pax_extensions([("path", path.as_bytes()), ("linkpath", target.as_bytes())]).unwrap();
        let mut h = Tar::header(EntryType::Symlink, 0o777, 0);
        h.as_old_mut().name[..5].copy_from_slice(b"trunc");
        h.set_cksum();
        self.0.append(&h, std::io::empty()).unwrap();
        self
    }

    /// A regular file in a GNU header, whose long name travels in a `././@LongLink` member.
    fn gnu_file(mut self, path: &str, data: &[u8]) -> Tar {
        let mut gnu = Header::new_gnu();
        gnu.set_size(data.len() as u64);
        gnu.set_mode(0o600);
        gnu.set_uid(0);
        gnu.set_gid(0);
        gnu.set_mtime(0);
        self.0.append_data(&mut gnu, path, data).unwrap();
        self
    }

    fn tar(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }

    fn gzip(self) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&self.tar()).unwrap();
        gz.finish().unwrap()
    }

    fn zstd(self) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(&self.tar()[..], ruzstd::encoding::CompressionLevel::Fastest)
    }
}

fn read(blob: &[u8]) -> Result<Vec<StoredEntry>, Error> {
    let mut reader = LayerReader::new("sha256:layer", Cursor::new(blob))?;
    let entries = reader.entries()?;
    entries.collect()
}

fn kinds(entries: &[StoredEntry]) -> Vec<(&str, &Kind)> {
    entries.iter().map(|e| (e.path.as_str(), &e.kind)).collect()
}

fn sample() -> Tar {
    Tar::new()
        .dir("./")
        .dir("./bin/")
        .file("./bin/busybox", b"#!busybox")
        .link(EntryType::Symlink, "bin/sh", "busybox")
        .link(EntryType::Link, "bin/ls", "./bin/busybox")
        .special(EntryType::Char, "dev/null")
        .special(EntryType::Fifo, "run/pipe")
        .file("etc/.wh.motd", b"")
        .file("opt/data/.wh..wh..opq", b"")
        .dir(".wh..wh.plnk")
}

#[test]
fn gzip_and_plain_tar_give_the_same_typed_entries() {
    let plain = read(&sample().tar()).unwrap();
    let gzip = read(&sample().gzip()).unwrap();
    assert_eq!(plain, gzip);
    let blob = sample().gzip();
    let unchecked: Vec<StoredEntry> = LayerReader::new_digest_checked("x", Cursor::new(&blob))
        .unwrap()
        .entries()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(unchecked, gzip, "read without the CRC, for a caller that checks the digest");
    let mut reader = LayerReader::new("x", Cursor::new(sample().gzip())).unwrap();
    assert_eq!(reader.compression(), Compression::Gzip);
    assert_eq!(reader.entries().unwrap().count(), 10);
    let link = |t: &str| Kind::Symlink { target: t.into() };
    assert_eq!(
        kinds(&plain),
        [
            ("/", &Kind::Dir),
            ("/bin", &Kind::Dir),
            ("/bin/busybox", &Kind::File),
            ("/bin/sh", &link("busybox")),
            ("/bin/ls", &Kind::Hardlink { target: "/bin/busybox".into() }),
            ("/dev/null", &Kind::CharDevice { major: 1, minor: 3 }),
            ("/run/pipe", &Kind::Fifo),
            ("/etc/.wh.motd", &Kind::Whiteout { hides: "/etc/motd".into() }),
            ("/opt/data/.wh..wh..opq", &Kind::Opaque { dir: "/opt/data".into() }),
            ("/.wh..wh.plnk", &Kind::AufsMeta),
        ]
    );
    let busybox = &plain[2];
    assert_eq!(
        (busybox.size, busybox.mode, busybox.uid, busybox.gid, busybox.mtime),
        (9, 0o644, 1000, 100, 1_700_000_000)
    );
    assert_eq!(plain[4].size, 0, "a hardlink stores no content");
}

#[test]
fn zstd_layers_read_like_gzip_ones() {
    let gzip = read(&sample().gzip()).unwrap();
    assert_eq!(read(&sample().zstd()).unwrap(), gzip);
    let blob = sample().zstd();
    let mut reader = LayerReader::new_digest_checked("x", Cursor::new(&blob)).unwrap();
    assert_eq!(reader.compression(), Compression::Zstd);
    assert_eq!(reader.entries().unwrap().collect::<Result<Vec<_>, _>>().unwrap(), gzip);
    let mut out = Vec::new();
    let mut reader = LayerReader::new("x", Cursor::new(&blob)).unwrap();
    assert_eq!(reader.extract("/bin/busybox", &mut out).unwrap(), 9);
    assert_eq!(out, b"#!busybox");
}

#[test]
fn members_carry_contents_and_names_as_stored() {
    let blob = sample().zstd();
    let mut reader = LayerReader::new("x", Cursor::new(&blob)).unwrap();
    let mut seen = Vec::new();
    while let Some(mut member) = reader.next_member().unwrap() {
        let mut content = Vec::new();
        member.read_to_end(&mut content).unwrap();
        seen.push((member.entry.path.clone(), member.raw_path.clone(), member.raw_link.clone(), content));
    }
    assert_eq!(seen.len(), 10);
    assert_eq!(seen[2], ("/bin/busybox".into(), "bin/busybox".into(), None, b"#!busybox".to_vec()));
    assert_eq!(seen[4], ("/bin/ls".into(), "bin/ls".into(), Some("./bin/busybox".into()), Vec::new()));
}

#[test]
fn long_names_from_pax_and_gnu_headers() {
    let long_dir = format!("srv/{}", "d".repeat(120));
    let long_target = format!("/{}/{}", "t".repeat(90), "u".repeat(90));
    let gnu_name = format!("{long_dir}/{}", "g".repeat(150));
    let tar = Tar::new().pax_symlink(&format!("{long_dir}/link"), &long_target).gnu_file(&gnu_name, b"hi");
    let entries = read(&tar.tar()).unwrap();
    assert_eq!(entries[0].path, format!("/{long_dir}/link"));
    assert_eq!(entries[0].kind, Kind::Symlink { target: long_target });
    assert_eq!((entries[1].path.as_str(), entries[1].size), (format!("/{gnu_name}").as_str(), 2));
}

#[test]
fn layers_written_by_write_layer_read_back() {
    use crate::layer::{write_layer, EntryKind, LayerOptions, LayerPath, Plan, MODE_EXEC};
    let long = format!("/opt/{}/tool", "n".repeat(130));
    let mut plan = Plan::new();
    plan.add(LayerPath::new(&long).unwrap(), EntryKind::File { mode: MODE_EXEC, size: 3, source: b"abc".to_vec() })
        .unwrap();
    plan.add(LayerPath::new("/etc/motd").unwrap(), EntryKind::Whiteout).unwrap();
    let entries = plan.into_entries();
    let open = |s: &Vec<u8>| Ok(Cursor::new(s.clone()));
    let (_, blob) =
        write_layer(&entries, &LayerOptions::default(), open, crate::layer::gzip::Sequential, Vec::new(), &mut |_| {})
            .unwrap();
    let read = read(&blob).unwrap();
    let names: Vec<&str> = read.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(names, ["/etc", "/etc/.wh.motd", "/opt", &format!("/opt/{}", "n".repeat(130)), &long]);
    assert_eq!((read[4].size, read[4].mode), (3, 0o755));
    assert_eq!(read[1].kind, Kind::Whiteout { hides: "/etc/motd".into() });
}

#[test]
fn a_stream_ending_right_after_its_last_data_reads_as_complete() {
    // umoci 0.4 `insert` layers stop after the last member's data: no padding, no end blocks.
    let full = Tar::new().dir("opt/").file("opt/n", b"new\n").tar();
    let cut = &full[..512 * 2 + 4];
    let entries = read(cut).unwrap();
    assert_eq!(kinds(&entries), [("/opt", &Kind::Dir), ("/opt/n", &Kind::File)]);
    // Cut inside the data, the padding, a header or the end blocks: truncated, and said so.
    for (len, after) in [(512 * 2 + 2, 2), (512 * 2 + 100, 2), (512 + 100, 1), (512 * 3 + 4, 2)] {
        match read(&full[..len]) {
            Err(Error::LayerRead { what, entries, .. }) => {
                assert_eq!((what.as_str(), entries), ("sha256:layer", after), "{len}")
            }
            other => panic!("{len}: {other:?}"),
        }
    }
}

#[test]
fn bad_blobs_are_named_errors() {
    let problem = |blob: &[u8]| match read(blob) {
        Err(e @ Error::LayerFormat { .. }) => {
            let text = e.to_string();
            assert!(text.starts_with("layer sha256:layer cannot be read: "), "{text}");
            text
        }
        other => panic!("{other:?}"),
    };
    assert!(problem(br#"{"schemaVersion":2,"mediaType":"x"}"#)
        .contains("neither gzip-compressed nor a tar archive (it starts with \"{\\\"schemaVersion\\\""));
    assert!(problem(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0]).contains("starts like zstd"));
    let zstd = sample().zstd();
    let cut = read(&zstd[..zstd.len() - 20]);
    assert!(cut.as_ref().is_err_and(|e| e.to_string().contains("the zstd stream is cut short")), "{cut:?}");
    assert!(problem(b"").contains("empty"));
    let mut not_tar = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    not_tar.write_all(&[7u8; 2048]).unwrap();
    assert!(problem(&not_tar.finish().unwrap()).contains("not a gzip-compressed tar archive"));
    assert!(problem(&[0x1f, 0x8b, 1, 2, 3]).contains("starts like gzip"));
    let mut escape = Tar::header(EntryType::Regular, 0o644, 1);
    escape.as_old_mut().name[..16].copy_from_slice(b"../../etc/passwd");
    escape.set_cksum();
    let mut tar = Tar::new();
    tar.0.append(&escape, &b"x"[..]).unwrap();
    let escape = tar.tar();
    assert!(problem(&escape).contains("\"../../etc/passwd\" climbs out of the image root"));
    let mut tar = Tar::new();
    let mut link = Tar::header(EntryType::Link, 0o644, 0);
    link.as_old_mut().name[..6].copy_from_slice(b"stolen");
    link.as_old_mut().linkname[..13].copy_from_slice(b"../etc/passwd");
    link.set_cksum();
    tar.0.append(&link, std::io::empty()).unwrap();
    assert!(problem(&tar.tar()).contains("member \"stolen\" is a hard link to \"../etc/passwd\", which climbs out"));
}

#[test]
fn pax_global_headers_are_not_members() {
    let mut tar = Tar::new();
    let mut g = Tar::header(EntryType::XGlobalHeader, 0o644, 0);
    let record = b"52 comment=a3f1c0ffee0123456789abcdef0123456789abcd\n";
    g.set_size(record.len() as u64);
    g.set_cksum();
    tar.0.append_data(&mut g, "pax_global_header", &record[..]).unwrap();
    let entries = read(&tar.file("a", b"1").tar()).unwrap();
    assert_eq!(kinds(&entries), [("/a", &Kind::File)]);
}

#[test]
fn layers_read_and_flattened_like_a_runtime() {
    let base = Tar::new()
        .dir("etc/")
        .file("etc/motd", b"hello")
        .dir("opt/data/")
        .file("opt/data/a", b"a")
        .file("bin/tool", b"tool!")
        .link(EntryType::Link, "bin/tool2", "bin/tool")
        .link(EntryType::Symlink, "bin/sh", "tool")
        .gzip();
    let top = Tar::new()
        .file("etc/.wh.motd", b"")
        .file("opt/data/.wh..wh..opq", b"")
        .dir("opt/data/")
        .file("opt/data/b", b"bb")
        .file("bin/tool", b"new tool, longer")
        .tar();
    let layers = [read(&base).unwrap(), read(&top).unwrap()];
    let merged = flatten(&layers);
    let got: Vec<(&str, &Kind, u64, usize)> =
        merged.iter().map(|m| (m.path.as_str(), &m.kind, m.size, m.layer)).collect();
    let hard = Kind::Hardlink { target: "/bin/tool".into() };
    let sym = Kind::Symlink { target: "tool".into() };
    assert_eq!(
        got,
        [
            ("/bin", &Kind::Dir, 0, 1),
            ("/bin/sh", &sym, 0, 1),
            ("/bin/tool", &Kind::File, 16, 2),
            ("/bin/tool2", &hard, 5, 1),
            ("/etc", &Kind::Dir, 0, 1),
            ("/opt", &Kind::Dir, 0, 1),
            ("/opt/data", &Kind::Dir, 0, 2),
            ("/opt/data/b", &Kind::File, 2, 2),
        ]
    );
}

#[test]
fn entries_serialise_with_octal_modes_and_tagged_kinds() {
    let entries = read(&Tar::new().link(EntryType::Symlink, "bin/sh", "busybox").tar()).unwrap();
    let json = serde_json::to_string(&entries[0]).unwrap();
    assert_eq!(
        json,
        r#"{"path":"/bin/sh","type":"symlink","target":"busybox","mode":"0777","uid":1000,"gid":100,"size":0,"mtime":1700000000}"#
    );
    // `name` is the JSON tag, for every kind.
    for entry in read(&sample().tar()).unwrap() {
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["type"], entry.kind.name(), "{json}");
    }
}

/// Counts the bytes a reader has handed out, to see how much of a blob was read.
struct Counted<'a> {
    inner: Cursor<&'a [u8]>,
    read: &'a std::cell::Cell<usize>,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n);
        Ok(n)
    }
}

#[test]
fn one_file_is_extracted_without_reading_past_it() {
    let big: Vec<u8> = (0..4u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let layer =
        Tar::new().dir("etc/").file("etc/motd", b"hello\n").file("var/big", &big).file("var/after", b"after").tar();
    let read = std::cell::Cell::new(0);
    let mut reader = LayerReader::new("sha256:layer", Counted { inner: Cursor::new(&layer), read: &read }).unwrap();
    let mut out = Vec::new();
    assert_eq!(reader.extract("/etc/motd", &mut out).unwrap(), 6);
    assert_eq!(out, b"hello\n");
    assert!(read.get() < 1 << 20, "read {} of {} bytes for a member at the start", read.get(), layer.len());

    let gzip = Tar::new().file("a", b"1").file("var/big", &big).file("var/after", b"after").gzip();
    let mut out = Vec::new();
    assert_eq!(
        LayerReader::new("x", Cursor::new(&gzip)).unwrap().extract("/var/big", &mut out).unwrap(),
        big.len() as u64
    );
    assert!(out == big, "the extracted bytes are the member's");
}

#[test]
fn extracting_what_is_not_a_file_names_the_path() {
    let layer = Tar::new().dir("etc/").link(EntryType::Symlink, "bin/sh", "busybox").file("etc/.wh.motd", b"").tar();
    let problem = |path: &str| match LayerReader::new("sha256:layer", Cursor::new(&layer))
        .unwrap()
        .extract(path, &mut Vec::new())
    {
        Err(e @ Error::LayerMember { .. }) => e.to_string(),
        other => panic!("{path}: {other:?}"),
    };
    assert_eq!(
        problem("/etc"),
        "cannot extract /etc from layer sha256:layer: the member there is not a regular file but a directory"
    );
    assert_eq!(problem("/bin/sh"), "cannot extract /bin/sh from layer sha256:layer: the member there is not a regular file but a symbolic link to busybox");
    assert_eq!(
        problem("/etc/motd"),
        "cannot extract /etc/motd from layer sha256:layer: the layer has no member at that path (3 members read)"
    );
    // A blob cut short inside the member's data is a read error, not a short file.
    let cut = Tar::new().file("big", &[1u8; 2000]).tar();
    match LayerReader::new("sha256:cut", Cursor::new(&cut[..1200])).unwrap().extract("/big", &mut Vec::new()) {
        Err(Error::LayerRead { what, .. }) => assert_eq!(what, "sha256:cut"),
        other => panic!("{other:?}"),
    }
}

/// A layer with every kind of member, long names, and a file large enough to span many
/// chunks of decompressed output.
fn everything() -> Tar {
    let big: Vec<u8> = (0..700_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    sample()
        .pax_symlink(&format!("srv/{}/link", "d".repeat(120)), &format!("/{}", "t".repeat(150)))
        .file("var/odd", &[5u8; 513])
        .file("var/big", &big)
        .gnu_file(&format!("srv/{}", "g".repeat(150)), b"hi")
}

#[test]
fn one_byte_chunks_and_one_chunk_give_the_same_events() {
    for (name, blob) in [("plain", everything().tar()), ("gzip", everything().gzip()), ("zstd", everything().zstd())] {
        let whole = decode_all(&blob, blob.len(), true);
        assert_eq!(whole.1, None, "{name}");
        assert_eq!(whole.0.len(), 14, "{name}");
        assert_eq!(whole.0[12].1.len(), 700_000, "{name}: the big file's content");
        assert_eq!(whole.0[13].1, b"hi", "{name}: a GNU long name's content");
        for chunk in [1, 7, 512, 4096] {
            assert!(decode_all(&blob, chunk, true) == whole, "{name} in chunks of {chunk}");
        }
        let cut = &blob[..blob.len() * 2 / 3];
        let cut_whole = decode_all(cut, cut.len(), true);
        assert!(cut_whole.1.is_some(), "{name}: a cut blob is an error");
        assert!(decode_all(cut, 1, true) == cut_whole, "{name} cut, byte by byte");
    }
    let entries: Vec<StoredEntry> = decode_all(&everything().tar(), 100, true).0.into_iter().map(|m| m.0).collect();
    assert_eq!(read(&everything().gzip()).unwrap(), entries, "the pull reader gives the decoder's entries");
}

#[test]
fn the_decoder_reports_the_compression_and_takes_nothing_after_the_end() {
    use crate::layer::decode::{Event, LayerDecoder};
    let mut blob = everything().zstd();
    let mut decoder = LayerDecoder::new("x", false);
    decoder.feed(&blob[..10]);
    assert!(decoder.poll().unwrap().is_none(), "the first block is not in yet");
    decoder.feed(&blob[10..]);
    let mut members = 0;
    while let Some(event) = decoder.poll().unwrap() {
        match event {
            Event::Member(_) => members += 1,
            Event::Data(_) => {}
            Event::End => break,
        }
    }
    assert_eq!((members, decoder.compression()), (14, Compression::Zstd));
    blob.truncate(100);
    decoder.feed(&blob);
    decoder.finish();
    assert!(decoder.poll().unwrap().is_none(), "nothing after the end");
}

#[test]
fn extractions_of_pushed_events_stop_at_the_end_of_the_file() {
    use crate::layer::decode::LayerDecoder;
    let blob = everything().gzip();
    let mut decoder = LayerDecoder::new("x", true);
    let mut extraction = Extraction::new("x", "/var/odd");
    let mut out = Vec::new();
    let mut fed = 0;
    let size = loop {
        match decoder.poll().unwrap() {
            Some(event) => {
                if let Some(size) = extraction.take(event, &mut out).unwrap() {
                    break size;
                }
            }
            None => {
                let end = blob.len().min(fed + 1000);
                decoder.feed(&blob[fed..end]);
                fed = end;
            }
        }
    };
    assert_eq!((size, out), (513, vec![5u8; 513]));
    assert!(fed < blob.len(), "read {fed} of {} bytes", blob.len());
}

#[test]
fn pax_records_set_ids_and_sizes_and_bad_ones_are_named() {
    let mut tar = Tar::new();
    tar.0.append_pax_extensions([("uid", &b"4000000000"[..]), ("SCHILY.xattr.user.a", b"v")]).unwrap();
    let tar = tar.file("a", b"1").tar();
    let members = decode_all(&tar, 3, true).0;
    assert_eq!(members[0].0.uid, 4_000_000_000);
    let mut reader = LayerReader::new("x", Cursor::new(&tar)).unwrap();
    let member = reader.next_member().unwrap().unwrap();
    assert_eq!(member.xattrs, [("user.a".to_owned(), b"v".to_vec())]);
    let mut bad = Tar::new();
    bad.0.append_pax_extensions([("size", &b"lots"[..])]).unwrap();
    let bad = bad.file("a", b"1").tar();
    let error = read(&bad).unwrap_err().to_string();
    assert!(error.contains("the PAX record size=\"lots\" is not a number"), "{error}");
}
