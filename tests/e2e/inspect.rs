//! `layerize inspect` and `layerize ls` against the real registry, judged by independent tools:
//! skopeo for the manifest and config bytes, `umoci unpack` for the merged filesystem, GNU tar
//! for each layer's members.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use layerize_tests::fixtures::layered::{self, push_layered};
use layerize_tests::fixtures::unusual::{self, push_artifact, push_not_a_tar};
use layerize_tests::oci_layout::sha256_digest;
use layerize_tests::{push_index, push_single, readers, tool, Format, Registry, RegistryAuth};
use serde_json::{json, Value};

use crate::cli::layerize;

fn ok(args: &[&str]) -> String {
    layerize(args, None, None).ok()
}

fn fails(args: &[&str]) -> String {
    layerize(args, None, None).fails()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `ls … --json`: one object per line.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(json).collect()
}

/// `--raw` and `--config` print exactly what skopeo prints, byte for byte.
fn assert_bytes_match_skopeo(registry: &Registry, repo_tag: &str) {
    let reference = registry.reference(repo_tag);
    let raw = ok(&["inspect", "--raw", &reference]);
    assert_eq!(raw.as_bytes(), readers::skopeo_inspect_raw(registry, repo_tag), "--raw of {repo_tag}");
    let config = ok(&["inspect", "--config", &reference]);
    assert_eq!(config.as_bytes(), readers::skopeo_inspect_config(registry, repo_tag), "--config of {repo_tag}");
}

#[test]
fn raw_and_config_bytes_match_skopeo() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    for (format, name) in [(Format::Oci, "oci"), (Format::Docker, "docker")] {
        push_single(&registry, &format!("single-{name}:1"), format);
        assert_bytes_match_skopeo(&registry, &format!("single-{name}:1"));
        push_layered(&registry, &format!("layered-{name}:1"), format);
        assert_bytes_match_skopeo(&registry, &format!("layered-{name}:1"));

        // An index: --raw is the index itself, --config the linux/amd64 image's, as skopeo
        // picks for this machine.
        let index = push_index(&registry, &format!("multi-{name}:1"), format);
        assert_bytes_match_skopeo(&registry, &format!("multi-{name}:1"));
        // --platform picks another entry, for both.
        let arm = &index.platform("linux/arm64/v8").digest;
        let by_digest = format!("multi-{name}@{arm}");
        let reference = registry.reference(&format!("multi-{name}:1"));
        let raw = ok(&["inspect", "--raw", "--platform", "linux/arm64", &reference]);
        assert_eq!(raw.as_bytes(), readers::skopeo_inspect_raw(&registry, &by_digest));
        assert_eq!(&sha256_digest(raw.as_bytes()), arm);
        let config = ok(&["inspect", "--config", "--platform", "linux/arm64/v8", &reference]);
        assert_eq!(config.as_bytes(), readers::skopeo_inspect_config(&registry, &by_digest));
        assert_eq!(json(&config)["architecture"], "arm64");
    }
}

#[test]
fn an_index_lists_every_manifest_with_attestations_labelled() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    for (format, name) in [(Format::Oci, "oci"), (Format::Docker, "docker")] {
        let index = push_index(&registry, &format!("multi-{name}:1"), format);
        let reference = registry.reference(&format!("multi-{name}:1"));
        let report = json(&ok(&["inspect", "--json", &reference]));
        assert_eq!(report["kind"], "index");
        assert_eq!(report["reference"], reference.as_str());
        assert_eq!(report["digest"], index.digest.as_str());
        assert_eq!(report["media_type"], index.media_type.as_str());
        let listed: Vec<(String, String, String, String)> = report["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .map(|m| (text(&m["role"]), text(&m["platform"]), text(&m["digest"]), text(&m["media_type"])))
            .collect();
        let expected: Vec<(String, String, String, String)> = index
            .manifests
            .iter()
            .map(|m| {
                let role = if m.platform == "unknown/unknown" { "attestation" } else { "image" };
                (role.to_owned(), m.platform.clone(), m.digest.clone(), m.media_type.clone())
            })
            .collect();
        assert_eq!(listed, expected, "every entry, in order, the attestation labelled and not hidden");
        // What the attestation says it describes, as the index says it (the Docker list
        // fixture keeps the OCI index's annotation).
        let raw = json(&String::from_utf8_lossy(&readers::skopeo_inspect_raw(&registry, &format!("multi-{name}:1"))));
        let describes = &raw["manifests"][2]["annotations"]["vnd.docker.reference.digest"];
        assert_eq!(&report["manifests"][2]["describes"], describes);
        assert!(report["manifests"][0]["size"].as_u64().is_some_and(|s| s > 100));

        let summary = ok(&["inspect", &reference]);
        assert!(summary.starts_with(&format!("{reference}\n  index       {}", index.digest)), "{summary}");
        for entry in &index.manifests {
            let line = summary
                .lines()
                .find(|l| l.contains(&entry.digest))
                .unwrap_or_else(|| panic!("{} not listed:\n{summary}", entry.digest));
            assert!(line.trim_start().starts_with(&entry.platform) && line.contains(&entry.media_type), "{line}");
        }
        assert!(summary.contains(&format!("(attestation of {})", text(describes))), "{summary}");
    }
}

#[test]
fn an_image_summary_shows_config_history_and_layers() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let pushed = push_layered(&registry, "layered:1", Format::Oci);
    let reference = registry.reference("layered:1");
    let manifest = json(&String::from_utf8_lossy(&readers::skopeo_inspect_raw(&registry, "layered:1")));
    let config = json(&String::from_utf8_lossy(&readers::skopeo_inspect_config(&registry, "layered:1")));

    let report = json(&ok(&["inspect", "--json", &reference]));
    assert_eq!(report["kind"], "image");
    assert_eq!((&report["digest"], &report["role"]), (&json!(pushed.digest), &json!("image")));
    let c = &report["config"];
    assert_eq!(c["digest"], manifest["config"]["digest"]);
    assert_eq!(c["platform"], "linux/amd64");
    assert_eq!(c["created"], layered::LAYERED_CREATED);
    assert_eq!(c["entrypoint"], json!(layered::LAYERED_ENTRYPOINT));
    assert_eq!(c["cmd"], json!([layered::LAYERED_CMD]));
    assert_eq!(c["env"], json!(layered::LAYERED_ENV));
    assert_eq!(c["working_dir"], layered::LAYERED_WORKDIR);
    assert_eq!(c["user"], layered::LAYERED_USER);
    assert_eq!(c["exposed_ports"], json!([layered::LAYERED_PORT]));
    let labels: BTreeMap<String, String> =
        layered::LAYERED_LABELS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(c["labels"], json!(labels));

    let steps: Vec<(String, Value, bool)> = report["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|s| (text(&s["created_by"]), s["layer"].clone(), s["empty_layer"].as_bool().unwrap_or(false)))
        .collect();
    let want: Vec<(String, Value, bool)> = layered::LAYERED_HISTORY
        .iter()
        .enumerate()
        .map(|(i, h)| {
            (
                h.to_string(),
                if i < layered::LAYERED_LAYERS { json!(i + 1) } else { Value::Null },
                i >= layered::LAYERED_LAYERS,
            )
        })
        .collect();
    assert_eq!(steps, want, "each non-empty step made the next layer");

    let layers = report["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), layered::LAYERED_LAYERS);
    let mut total = 0;
    for (i, layer) in layers.iter().enumerate() {
        assert_eq!(layer["number"], i + 1);
        assert_eq!(layer["digest"], manifest["layers"][i]["digest"]);
        assert_eq!(layer["size"], manifest["layers"][i]["size"]);
        assert_eq!(layer["media_type"], manifest["layers"][i]["mediaType"]);
        assert_eq!(layer["diff_id"], config["rootfs"]["diff_ids"][i]);
        total += layer["size"].as_u64().expect("size");
    }
    assert_eq!(report["layers_size"], total);

    let summary = ok(&["inspect", &reference]);
    for expected in [
        format!("  manifest    {}  application/vnd.oci.image.manifest.v1+json", pushed.digest),
        "  entrypoint  [\"/bin/sh\",\"-c\"]".to_owned(),
        "  cmd         [\"echo layered\"]".to_owned(),
        "  workdir     /opt/app".to_owned(),
        "  user        1000:100".to_owned(),
        "  ports       8080/tcp".to_owned(),
        "  env         PATH=/usr/bin:/bin".to_owned(),
        "              MODE=layered".to_owned(),
        "  labels      org.example.stage=test".to_owned(),
        "              org.example.team=layerize".to_owned(),
        format!("layers: {}", layered::LAYERED_LAYERS),
        format!("    3  {}", text(&manifest["layers"][2]["digest"])),
    ] {
        assert!(summary.contains(&expected), "missing {expected:?} in:\n{summary}");
    }
    let history: Vec<&str> =
        summary.lines().skip_while(|l| *l != "history:").skip(1).take_while(|l| !l.is_empty()).collect();
    assert_eq!(history.len(), 5, "{summary}");
    assert!(history[3].contains("layer 4 (") && history[3].ends_with(layered::LAYERED_HISTORY[3]), "{}", history[3]);
    assert!(history[4].contains("no layer") && history[4].ends_with("config"), "{}", history[4]);
}

/// What a path on disk is, in the terms both sides share.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    /// Regular files only.
    size: Option<u64>,
    /// Not for symlinks, whose mode the kernel fixes.
    mode: Option<u32>,
    owner: (u64, u64),
    link: Option<String>,
}

/// Every path under `root`, as `umoci unpack` left it.
fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (Node, u64)>) {
    for entry in fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        let meta = fs::symlink_metadata(&path).expect("stat");
        let t = meta.file_type();
        let kind = if t.is_dir() {
            "dir"
        } else if t.is_symlink() {
            "symlink"
        } else if t.is_fifo() {
            "fifo"
        } else if t.is_file() {
            "file"
        } else {
            "device"
        };
        let node = Node {
            kind,
            size: t.is_file().then_some(meta.len()),
            mode: (!t.is_symlink()).then(|| meta.mode() & 0o7777),
            owner: (u64::from(meta.uid()), u64::from(meta.gid())),
            link: t.is_symlink().then(|| fs::read_link(&path).expect("readlink").display().to_string()),
        };
        let name = format!("/{}", path.strip_prefix(root).expect("under root").display());
        out.insert(name, (node, meta.ino()));
        if t.is_dir() {
            walk(root, &path, out);
        }
    }
}

/// The same for one entry of `ls --json`; a hardlink is a file with its target's content.
fn listed_node(e: &Value) -> Node {
    let kind = match e["type"].as_str().expect("type") {
        "file" | "hardlink" => "file",
        "dir" => "dir",
        "symlink" => "symlink",
        "fifo" => "fifo",
        "char" | "block" => "device",
        unexpected => panic!("{unexpected} in a merged listing: {e}"),
    };
    Node {
        kind,
        size: (kind == "file").then(|| e["size"].as_u64().expect("size")),
        mode: (kind != "symlink").then(|| u32::from_str_radix(e["mode"].as_str().expect("mode"), 8).expect("octal")),
        owner: (e["uid"].as_u64().expect("uid"), e["gid"].as_u64().expect("gid")),
        link: (kind == "symlink").then(|| text(&e["target"])),
    }
}

#[test]
fn the_merged_listing_is_what_umoci_unpacks() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    for (format, name) in [(Format::Oci, "oci"), (Format::Docker, "docker")] {
        let repo_tag = format!("layered-{name}:1");
        push_layered(&registry, &repo_tag, format);
        let reference = registry.reference(&repo_tag);
        let listed = json_lines(&ok(&["ls", &reference, "--json"]));
        assert_eq!(
            ok(&["ls", "--merged", "--json", &reference]),
            ok(&["ls", &reference, "--json"]),
            "--merged is the default"
        );

        let oci = readers::skopeo_copy_to_oci(&registry, &repo_tag);
        let rootfs = readers::umoci_unpack(oci.path(), oci.tag());
        let mut on_disk = BTreeMap::new();
        walk(rootfs.path(), rootfs.path(), &mut on_disk);

        let ours: BTreeMap<String, Node> = listed.iter().map(|e| (text(&e["path"]), listed_node(e))).collect();
        let theirs: BTreeMap<String, &Node> = on_disk.iter().map(|(p, (n, _))| (p.clone(), n)).collect();
        let only_ours: Vec<&String> = ours.keys().filter(|p| !theirs.contains_key(*p)).collect();
        let only_theirs: Vec<&String> = theirs.keys().filter(|p| !ours.contains_key(*p)).collect();
        assert!(
            only_ours.is_empty() && only_theirs.is_empty(),
            "paths differ: only in ls {only_ours:?}, only unpacked {only_theirs:?}"
        );
        for (path, node) in &ours {
            assert_eq!(node, theirs[path], "{path}");
        }
        // Hardlinks point at their target: the same inode on disk when the target is still
        // the file the link was made to.
        for e in listed.iter().filter(|e| e["type"] == "hardlink") {
            let target = text(&e["target"]);
            if let Some(t) = listed.iter().find(|t| t["path"] == target.as_str() && t["layer"] == e["layer"]) {
                assert_eq!(on_disk[&text(&e["path"])].1, on_disk[&text(&t["path"])].1, "{} and {target}", e["path"]);
            }
        }

        // The changes umoci made, spelled out.
        let kind = |p: &str| ours.get(p).map(|n| n.kind);
        assert_eq!(kind("/etc/motd"), Some("dir"), "deleted in layer 2, back as a directory in layer 4");
        assert_eq!(kind("/var/cache/old"), None, "a deleted directory");
        assert_eq!(kind("/var/cache"), Some("dir"));
        assert_eq!(kind("/srv/old-dir"), Some("symlink"), "a directory replaced by a symlink");
        assert_eq!(kind("/opt/app/mode-file/inner"), Some("file"), "a file replaced by a directory");
        assert_eq!(kind("/bin/sh"), None, "a deleted symlink");
        assert_eq!(kind("/opt/app/bin/tool"), None);
        assert_eq!(kind("/opt/app/bin/tool-hard"), Some("file"), "the other name of a deleted file");
        let data: Vec<&String> = ours.keys().filter(|p| p.starts_with("/opt/app/data/")).collect();
        assert_eq!(
            data,
            ["/opt/app/data/after.txt", "/opt/app/data/only.txt"],
            "the opaque layer hid a.txt, c.txt and d.txt"
        );
        let long = format!("/srv/{}/file.txt", layered::long_component());
        assert_eq!(kind(&long), Some("file"));
        let suid = &ours["/usr/bin/suid"];
        assert_eq!(suid.mode, Some(0o4755));
        assert_eq!(ours["/opt/app/config.txt"].owner, (1000, 100));
    }
}

/// `tar -tvzf` of a blob: its lines, and whether tar read it to the end without complaint.
fn tar_tv(blob: &Path) -> (Vec<String>, bool, String) {
    tool::require_tool("tar");
    let output = Command::new("tar").arg("--numeric-owner").arg("-tvzf").arg(blob).output().expect("run tar");
    let lines = String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    (lines, output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// A `tar -tv` line as (type and permissions, owner, size, path, link), without the date:
/// `-rw-r--r-- 0/0  5 2024-01-01 00:00 etc/motd` → ("-rw-r--r--", "0/0", "5", "/etc/motd", "").
fn parse_tar_line(line: &str) -> (String, String, String, String, String) {
    let mut rest = line;
    let mut fields = Vec::new();
    for _ in 0..5 {
        rest = rest.trim_start();
        let end = rest.find(' ').unwrap_or(rest.len());
        fields.push(&rest[..end]);
        rest = &rest[end..];
    }
    let rest = &rest[1..];
    let (name, link) = if let Some((n, t)) = rest.split_once(" -> ") {
        (n, t.to_owned())
    } else if let Some((n, t)) = rest.split_once(" link to ") {
        (n, tar_path(t))
    } else {
        (rest, String::new())
    };
    (fields[0].to_owned(), fields[1].to_owned(), fields[2].to_owned(), tar_path(name), link)
}

/// A tar member name as `ls` shows it: absolute, no `./`, no trailing slash.
fn tar_path(name: &str) -> String {
    let trimmed = name.trim_start_matches("./").trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        "/".to_owned()
    } else {
        format!("/{trimmed}")
    }
}

/// The same fields from an entry of `ls --layer N --json`.
fn listed_tar_line(e: &Value) -> (String, String, String, String, String) {
    let mode = u32::from_str_radix(e["mode"].as_str().expect("mode"), 8).expect("octal");
    let (kind, link) = match e["type"].as_str().expect("type") {
        "dir" => ('d', String::new()),
        "symlink" => ('l', text(&e["target"])),
        "hardlink" => ('h', text(&e["target"])),
        "fifo" => ('p', String::new()),
        _ => ('-', String::new()),
    };
    let mut perms: Vec<char> =
        "rwxrwxrwx".chars().enumerate().map(|(i, c)| if mode & (0o400 >> i) != 0 { c } else { '-' }).collect();
    for (bit, at, set, unset) in [(0o4000, 2, 's', 'S'), (0o2000, 5, 's', 'S'), (0o1000, 8, 't', 'T')] {
        if mode & bit != 0 {
            perms[at] = if perms[at] == '-' { unset } else { set };
        }
    }
    let owner = format!("{}/{}", e["uid"], e["gid"]);
    let perms: String = std::iter::once(kind).chain(perms).collect();
    (perms, owner, e["size"].to_string(), text(&e["path"]), link)
}

#[test]
fn each_layer_lists_what_gnu_tar_lists() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_layered(&registry, "layered:1", Format::Oci);
    let reference = registry.reference("layered:1");
    let oci = readers::skopeo_copy_to_oci(&registry, "layered:1");
    let layout = oci.layout();
    let manifest = layout.read_json(layout.tagged(oci.tag())["digest"].as_str().expect("digest"));
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), layered::LAYERED_LAYERS);
    for (i, layer) in layers.iter().enumerate() {
        let n = (i + 1).to_string();
        let listed = json_lines(&ok(&["ls", &reference, "--layer", &n, "--json"]));
        let (tar_lines, complete, stderr) = tar_tv(&layout.blob_path(layer["digest"].as_str().expect("digest")));
        if i + 1 == layered::LAYERED_INSERT_LAYER {
            // umoci insert stops right after the last file's data, as Go's tar reader allows.
            assert!(
                !complete && stderr.contains("Unexpected EOF"),
                "GNU tar read the insert layer without complaint: {stderr}"
            );
        } else {
            assert!(complete, "tar failed on layer {n}: {stderr}");
        }
        let ours: Vec<_> = listed.iter().map(listed_tar_line).collect();
        let theirs: Vec<_> = tar_lines.iter().map(|l| parse_tar_line(l)).collect();
        assert_eq!(ours, theirs, "layer {n}: ls --layer and tar -tv differ");
    }

    // Whiteouts and opaque directories are shown as such.
    let two = json_lines(&ok(&["ls", &reference, "--layer", "2", "--json"]));
    let motd = two.iter().find(|e| e["path"] == "/etc/.wh.motd").expect("whiteout of /etc/motd");
    assert_eq!((&motd["type"], &motd["hides"]), (&json!("whiteout"), &json!("/etc/motd")));
    let three = ok(&["ls", &reference, "--layer", "3"]);
    assert!(
        three.lines().next().is_some_and(
            |l| l.ends_with("/opt/app/data/.wh..wh..opq  (opaque: hides what lower layers have in /opt/app/data)")
        ),
        "{three}"
    );
    let one = ok(&["ls", &reference, "--layer", "1"]);
    let long_link = format!("/srv/{}/file.txt link to /srv/hard-long", layered::long_component());
    assert!(one.lines().any(|l| l.starts_with("hrw-r--r--") && l.ends_with(&long_link)), "{one}");
    assert!(one.lines().any(|l| l.starts_with("-rwsr-xr-x") && l.ends_with(" /usr/bin/suid")), "{one}");
}

#[test]
fn bad_input_is_refused_clearly() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let index = push_index(&registry, "multi:1", Format::Oci);
    push_single(&registry, "single:1", Format::Oci);
    let multi = registry.reference("multi:1");
    let single = registry.reference("single:1");

    for command in ["inspect", "ls"] {
        let e = fails(&[command, &multi, "--platform", "linux/s390x"]);
        assert!(e.contains("linux/s390x") && e.contains("linux/amd64, linux/arm64/v8"), "{e}");
        let e = fails(&[command, &registry.reference("nothere:1")]);
        assert!(e.contains("nothere") && e.contains("not found"), "{e}");
        let e = fails(&[command, &multi, "--platform", "linux"]);
        assert!(e.contains("invalid platform \"linux\""), "{e}");
        let e = fails(&[command, &single, "--platform", "linux/arm64"]);
        assert!(e.contains("single-platform image for linux/amd64, not linux/arm64"), "{e}");
        let e = fails(&[command, "Not/A:Ref:"]);
        assert!(e.contains("\"Not/A:Ref:\""), "{e}");
    }

    // An artifact: inspect says what it is; ls has no files to list.
    let chart = push_artifact(&registry, "chart:1");
    let chart_ref = registry.reference("chart:1");
    let report = json(&ok(&["inspect", "--json", &chart_ref]));
    assert_eq!((&report["role"], &report["digest"]), (&json!("artifact"), &json!(chart.digest)));
    assert!(ok(&["inspect", &chart_ref])
        .contains(&format!("artifact    its config has media type {}", unusual::HELM_CONFIG)));
    assert_eq!(ok(&["inspect", "--raw", &chart_ref]).as_bytes(), readers::skopeo_inspect_raw(&registry, "chart:1"));
    let e = fails(&["ls", &chart_ref]);
    assert!(e.contains("has no files to list") && e.contains(unusual::HELM_CONFIG), "{e}");

    // The attestation inside the index, by digest.
    let attestation = &index.platform("unknown/unknown").digest;
    let e = fails(&["ls", &registry.reference(&format!("multi@{attestation}"))]);
    assert!(e.contains("application/vnd.in-toto+json, which is not a filesystem layer"), "{e}");

    // Layer numbers count from 1.
    for n in ["0", "2"] {
        let e = fails(&["ls", &single, "--layer", n]);
        assert!(e.contains("has 1 layer; --layer takes 1 to 1"), "{e}");
    }

    // A layer that is not a tar is named by its digest.
    for (gzip, problem) in [
        (false, "it is neither gzip-compressed nor a tar archive"),
        (true, "it starts like gzip, but is not a gzip-compressed tar archive"),
    ] {
        let tag = format!("not-a-tar-{gzip}:1");
        let (_, layer) = push_not_a_tar(&registry, &tag, gzip);
        let reference = registry.reference(&tag);
        for args in [vec!["ls", &reference, "--layer", "1"], vec!["ls", &reference]] {
            let e = fails(&args);
            assert!(e.contains(&format!("layer {layer} cannot be read: {problem}")), "{e}");
        }
    }

    // A layer damaged in the registry's storage: an error naming it, never a listing taken
    // as good.
    let manifest = json(&String::from_utf8_lossy(&readers::skopeo_inspect_raw(&registry, "single:1")));
    let digest = text(&manifest["layers"][0]["digest"]);
    let hex = digest.trim_start_matches("sha256:");
    let data = registry.storage_dir().join(format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]));
    let mut bytes = fs::read(&data).expect("layer blob in storage");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    fs::write(&data, bytes).expect("damage the blob");
    // `ls --layer` may have printed what it read before the damage, as `tar -t` does.
    for args in [vec!["ls", "--layer", "1"], vec!["ls"]] {
        let mut args = args;
        args.insert(1, &single);
        let run = layerize(&args, None, None);
        assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
        assert!(run.stderr.starts_with("error: ") && !run.stderr.contains("panicked"), "{}", run.stderr);
        assert!(run.stderr.contains(&digest), "{}", run.stderr);
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("expected a string, found {v}")).to_owned()
}
