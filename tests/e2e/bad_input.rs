//! Bad input: a clear error naming it, exit status 1, never a panic, and nothing pushed or
//! half-written.

use std::process::Command;

use layerize_tests::tool::run;
use layerize_tests::{free_port, http, push_index, push_single, Format, Registry, RegistryAuth};

use crate::cli::layerize;
use crate::files::AppFiles;

/// Whether the repository exists on the registry at all (a manifest was ever pushed to it).
pub(crate) fn has_tags(registry: &Registry, repository: &str) -> bool {
    let url = format!("{}/v2/{repository}/tags/list", registry.url());
    let headers: Vec<(String, String)> = registry
        .credentials()
        .map(|(u, p)| vec![("Authorization".to_owned(), format!("Basic {}", b64(&format!("{u}:{p}"))))])
        .unwrap_or_default();
    let h: Vec<(&str, &str)> = headers.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    http::get(&url, &h).map(|r| r.status == 200).unwrap_or(false)
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn append_args(base: &str, target: &str, files: &[String]) -> Vec<String> {
    let mut args = vec!["append".to_owned(), base.to_owned()];
    args.extend(files.iter().cloned());
    args.extend(["-t".to_owned(), target.to_owned()]);
    args
}

fn run_append(args: &[String], stdin: Option<&str>) -> String {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    layerize(&argv, stdin, None).fails()
}

#[test]
fn errors_name_the_input_and_push_nothing() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    push_single(&registry, "base:1", Format::Oci);
    push_index(&registry, "multi:1", Format::Oci);
    let files = AppFiles::new();
    let base = registry.reference("base:1");
    let target = registry.reference("out:1");

    // A missing file.
    let e = run_append(&append_args(&base, &target, &["-f".into(), "/no/such/app:/opt/app".into()]), None);
    assert!(e.contains("/no/such/app"), "{e}");

    // A bad reference, base or target.
    let e = run_append(&append_args("Not/A:Ref:", &target, &files.args()), None);
    assert!(e.contains("\"Not/A:Ref:\""), "{e}");
    let e = run_append(&append_args(&base, "127.0.0.1:5000/UPPER:1", &files.args()), None);
    assert!(e.contains("lowercase"), "{e}");

    // An unknown platform.
    let mut args = append_args(&registry.reference("multi:1"), &target, &files.args());
    args.extend(["--platform".into(), "linux/s390x".into()]);
    let e = run_append(&args, None);
    assert!(e.contains("linux/s390x") && e.contains("linux/amd64, linux/arm64/v8"), "{e}");
    let mut args = append_args(&registry.reference("multi:1"), &target, &files.args());
    args.extend(["--platform".into(), "linux".into()]);
    assert!(run_append(&args, None).contains("invalid platform \"linux\""));

    // A base that does not exist.
    let e = run_append(&append_args(&registry.reference("base:404"), &target, &files.args()), None);
    assert!(e.contains("base:404") && e.contains("not found"), "{e}");

    // A bad --created.
    let mut args = append_args(&base, &target, &files.args());
    args.extend(["--created".into(), "yesterday".into()]);
    assert!(run_append(&args, None).contains("\"yesterday\""));

    assert!(!has_tags(&registry, "out"), "nothing may be pushed after bad input");
}

#[test]
fn wrong_password_is_refused_without_echoing_it() {
    let registry = Registry::start(RegistryAuth::htpasswd("alice", "right-password"));
    push_single(&registry, "base:1", Format::Oci);
    let files = AppFiles::new();
    let mut args = append_args(&registry.reference("base:1"), &registry.reference("out:1"), &files.args());
    args.extend(["--username".into(), "alice".into(), "--password-stdin".into()]);
    let e = run_append(&args, Some("Wr0ng-Pa55-xyz\n"));
    assert!(e.contains(&registry.host()) && e.contains("wrong username or password"), "{e}");
    assert!(!e.contains("Wr0ng-Pa55-xyz"), "password echoed: {e}");
    assert!(!has_tags(&registry, "out"));

    // The token flow refuses it at the issuer, again without echoing it.
    let token = Registry::start(RegistryAuth::token("alice", "right-password"));
    push_single(&token, "base:1", Format::Oci);
    let mut args = append_args(&token.reference("base:1"), &token.reference("out:1"), &files.args());
    args.extend(["--username".into(), "alice".into(), "--password-stdin".into()]);
    let e = run_append(&args, Some("Wr0ng-Pa55-xyz"));
    assert!(e.contains("wrong username or password"), "{e}");
    assert!(!e.contains("Wr0ng-Pa55-xyz"), "password echoed: {e}");
}

#[test]
fn registry_down_is_named() {
    let port = free_port();
    let files = AppFiles::new();
    let e = run_append(
        &append_args(&format!("127.0.0.1:{port}/base:1"), &format!("127.0.0.1:{port}/out:1"), &files.args()),
        None,
    );
    assert!(e.contains(&format!("127.0.0.1:{port}")) && e.contains("cannot reach registry"), "{e}");
}

#[test]
fn an_artifact_base_is_refused() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    // A Helm-chart-like OCI artifact, pushed with curl: a manifest whose config is not an
    // image config.
    let config = br#"{"name":"chart","version":"1.0.0"}"#;
    let config_digest = layerize_tests::oci_layout::sha256_digest(config);
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, config).expect("write");
    run(Command::new("curl")
        .args(["-fsS", "-X", "POST", "-o", "/dev/null", "-D"])
        .arg(dir.path().join("h"))
        .arg(format!("{}/v2/chart/blobs/uploads/", registry.url())));
    let headers = std::fs::read_to_string(dir.path().join("h")).expect("headers");
    let location = headers
        .lines()
        .find_map(|l| l.strip_prefix("Location: ").or_else(|| l.strip_prefix("location: ")))
        .expect("Location")
        .trim()
        .to_owned();
    let sep = if location.contains('?') { '&' } else { '?' };
    run(Command::new("curl")
        .args(["-fsS", "-X", "PUT", "-H", "Content-Type: application/octet-stream", "--data-binary"])
        .arg(format!("@{}", config_path.display()))
        .arg(format!("{location}{sep}digest={config_digest}")));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    run(Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.manifest.v1+json",
            "--data-binary",
            &manifest,
        ])
        .arg(format!("{}/v2/chart/manifests/1", registry.url())));

    let files = AppFiles::new();
    let e = run_append(&append_args(&registry.reference("chart:1"), &registry.reference("out:1"), &files.args()), None);
    assert!(e.contains("application/vnd.cncf.helm.config.v1+json") && e.contains("not a container image"), "{e}");
    assert!(!has_tags(&registry, "out"));
}

#[test]
fn a_failed_layer_build_leaves_no_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("layer.tar.gz");
    let e = layerize(&["layer", "-f", "/no/such/dir:/x", "-o", &out.display().to_string()], None, None).fails();
    assert!(e.contains("/no/such/dir"), "{e}");
    let e = layerize(&["layer", "-o", &out.display().to_string()], None, None).fails();
    assert!(e.contains("nothing to put in the layer"), "{e}");
    let e = layerize(
        &["layer", "-f", &format!("{}:/x/../../etc", dir.path().display()), "-o", &out.display().to_string()],
        None,
        None,
    )
    .fails();
    assert!(e.contains("`..` is not allowed"), "{e}");
    // A source that changes while it is read fails mid-write: the temp file must go too.
    let e =
        layerize(&["layer", "-f", "/proc/self/status:/status", "-o", &out.display().to_string()], None, None).fails();
    assert!(
        e.contains("/status") && e.contains("its size changed while it was read") && e.contains("0 bytes when listed"),
        "{e}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// One entry of the catalog: a command line that must fail, and what its error must name.
struct Case {
    what: &'static str,
    args: Vec<String>,
    /// Words the error must hold: the input it names (a path, a reference, a registry's
    /// `host:port`, an option's value), and sometimes what is wrong with it.
    names: Vec<String>,
    /// A usage error clap refuses before the command runs (exit 2) rather than exit 1.
    usage: bool,
    /// How the hostile source registry misbehaves for this case.
    rules: Vec<layerize_tests::hostile::Rule>,
}

fn case(what: &'static str, args: &[&str], names: &[&str]) -> Case {
    Case {
        what,
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        usage: false,
        rules: Vec::new(),
    }
}

impl Case {
    fn usage(mut self) -> Case {
        self.usage = true;
        self
    }

    fn rule(mut self, rule: layerize_tests::hostile::Rule) -> Case {
        self.rules.push(rule);
        self
    }
}

/// A member for [`raw_tar`]: name, type flag, data, link name.
type RawMember<'a> = (&'a [u8], u8, &'a [u8], &'a [u8]);

/// A tar whose members are written raw: `(name, type flag, data, link name)`, names and link
/// names as given (not UTF-8, `..`, absolute), so that archive readers meet them as they are.
fn raw_tar(members: &[RawMember<'_>]) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    for (name, kind, data, link) in members {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(tar::EntryType::new(*kind));
        header.set_size(data.len() as u64);
        header.set_mode(if *kind == b'5' { 0o755 } else { 0o644 });
        header.set_cksum();
        out.append(&header, *data).expect("append");
    }
    out.into_inner().expect("finish")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

/// The catalog of bad input (archives, references, sources, outputs, registry behaviour):
/// every case exits non-zero with an `error:` line naming the input, pushes nothing (the
/// target repository has no tag on the real registry or the hostile one), and leaves the
/// output dir as it was. Failures are collected, so one run reports every case that fails.
#[test]
fn catalog_of_bad_input_names_it_pushes_nothing_leaves_nothing() {
    use std::os::unix::ffi::OsStrExt;

    use layerize_tests::hostile::{Action, Auth, Hostile, Rule};

    use crate::hostile::{cli, listing, HANG};

    let registry = Registry::start(RegistryAuth::Anonymous);
    let hostile = Hostile::start(Auth::None);
    let image = hostile.add_image("base", "1", 256 << 10);
    let inputs = tempfile::tempdir().expect("temp dir");
    let out_dir = tempfile::tempdir().expect("temp dir");
    let input = |name: &str| inputs.path().join(name).display().to_string();
    let out = |name: &str| out_dir.path().join(name).display().to_string();
    let target = registry.reference("catalog:1");
    // Each case that pushes to the hostile registry has its own repository: blobs one case
    // uploaded must not be "already there" for the next.
    let h_repos = ["catalog-manifest", "catalog-upload", "catalog-denied", "catalog-commit"];
    let h_target = |repo: &str| hostile.reference(&format!("{repo}:1"));
    let h_base = hostile.reference("base:1");
    let h_host = hostile.host();

    // Inputs.
    let file = input("x.txt");
    std::fs::write(&file, "a file\n").expect("write");
    let fx = format!("{file}:/x");
    let good = input("good.tar");
    cli(&["save", &h_base, "-o", &good, "-q"], None, &[], HANG).0.ok();
    let good_bytes = std::fs::read(&good).expect("read");
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(input(name), bytes).expect("write");
        input(name)
    };
    let empty = write("empty.tar", b"");
    let text_gz = write("text.tar.gz", &gzip(&b"plain words, not a tar\n".repeat(200)));
    let good_gz = gzip(&good_bytes);
    let cut_gz = write("cut.tar.gz", &good_gz[..good_gz.len() / 2]);
    let zstd = write("image.tar.zst", &[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0, 0, 0]);
    let readme_only = write("readme.tar", &raw_tar(&[(b"README", b'0', b"no image here\n", b"")]));
    let not_json = write("not-json.tar", &raw_tar(&[(b"manifest.json", b'0', b"[{\"Config\": oops", b"")]));
    let no_images = write("no-images.tar", &raw_tar(&[(b"manifest.json", b'0', b"[]", b"")]));
    let missing_blob = format!("blobs/sha256/{}", "ab".repeat(32));
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{}","size":100}}]}}"#,
        "ab".repeat(32)
    );
    let oci_missing = write(
        "oci-missing.tar",
        &raw_tar(&[
            (b"oci-layout", b'0', br#"{"imageLayoutVersion":"1.0.0"}"#, b""),
            (b"index.json", b'0', index.as_bytes(), b""),
        ]),
    );
    let link_loop = write("link-loop.tar", &raw_tar(&[(b"manifest.json", b'2', b"", b"manifest.json")]));
    let link_out = write("link-out.tar", &raw_tar(&[(b"manifest.json", b'2', b"", b"/etc/passwd")]));
    let link_up = write("link-up.tar", &raw_tar(&[(b"manifest.json", b'2', b"", b"../../etc/passwd")]));
    let dir_manifest = write("dir-manifest.tar", &raw_tar(&[(b"manifest.json/", b'5', b"", b"")]));
    let non_utf8 =
        write("non-utf8.tar", &raw_tar(&[(b"caf\xe9.json", b'0', b"{}", b""), (b"manifest.json", b'0', b"[]", b"")]));
    let spaces = vec![b' '; (32 << 20) + 1];
    let huge = write("huge-manifest.tar", &raw_tar(&[(b"manifest.json", b'0', &spaces, b"")]));
    let mut bad_checksum = raw_tar(&[(b"a.txt", b'0', b"one", b""), (b"manifest.json", b'0', b"[]", b"")]);
    bad_checksum[1024 + 148] ^= 0x07;
    let bad_checksum = write("bad-checksum.tar", &bad_checksum);
    let absolute =
        write("absolute.tar", &raw_tar(&[(b"/etc/evil", b'0', b"x", b""), (b"manifest.json", b'0', b"[]", b"")]));
    let dir_input = input("a-directory");
    std::fs::create_dir(&dir_input).expect("mkdir");

    // Sources that cannot go into a layer.
    let fifo_dir = input("with-fifo");
    std::fs::create_dir(&fifo_dir).expect("mkdir");
    run(Command::new("mkfifo").arg(format!("{fifo_dir}/pipe")));
    let odd_name_dir = input("odd-name");
    std::fs::create_dir(&odd_name_dir).expect("mkdir");
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9");
    std::fs::write(std::path::Path::new(&odd_name_dir).join(odd), "x").expect("write");
    let odd_link_dir = input("odd-link");
    std::fs::create_dir(&odd_link_dir).expect("mkdir");
    std::os::unix::fs::symlink(odd, std::path::Path::new(&odd_link_dir).join("link")).expect("symlink");

    // Outputs that cannot be written: a directory in the way, a file where a directory must be.
    std::fs::create_dir(out("existing-dir")).expect("mkdir");
    std::fs::write(out("a-file"), "x").expect("write");
    let into_dir = out("existing-dir");
    let under_file = out("a-file/x.tar");
    let nowhere = "/no/such/dir/out.tar".to_owned();

    let wrong_digest = format!("sha256:{}", "cd".repeat(32));
    let pinned = hostile.reference(&format!("base@{wrong_digest}"));
    let long_tag = registry.reference(&format!("catalog:{}", "t".repeat(129)));
    let long_name = registry.reference(&format!("{}:1", "n".repeat(256)));
    let layer_path = format!("/blobs/{}", image.layer_digest);
    let config_path = format!("/blobs/{}", image.config_digest);
    let json_error = |status: u16, code: &str| Action::Answer {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: format!(r#"{{"errors":[{{"code":"{code}","message":"no"}}]}}"#).into_bytes(),
    };

    let cases = vec![
        // Archives.
        case("load: an empty file", &["load", &empty, "-t", &target], &[&empty]),
        case("load: a directory", &["load", &dir_input, "-t", &target], &[&dir_input]),
        case("load: gzipped text", &["load", &text_gz, "-t", &target], &[&text_gz, "not a tar"]),
        case("load: a gzip cut short", &["load", &cut_gz, "-t", &target], &[&cut_gz]),
        case("load: zstd", &["load", &zstd, "-t", &target], &[&zstd, "zstd"]),
        case("load: no manifest.json or index.json", &["load", &readme_only, "-t", &target], &[&readme_only]),
        case("load: manifest.json not JSON", &["load", &not_json, "-t", &target], &[&not_json, "manifest.json"]),
        case("load: manifest.json lists no image", &["load", &no_images, "-t", &target], &[&no_images]),
        case(
            "load: index.json names a missing blob",
            &["load", &oci_missing, "-t", &target],
            &[&oci_missing, &missing_blob],
        ),
        case(
            "load: manifest.json a link to itself",
            &["load", &link_loop, "-t", &target],
            &[&link_loop, "manifest.json"],
        ),
        case(
            "load: manifest.json a link out of the archive",
            &["load", &link_out, "-t", &target],
            &[&link_out, "manifest.json"],
        ),
        case(
            "load: manifest.json a link up out of it",
            &["load", &link_up, "-t", &target],
            &[&link_up, "manifest.json"],
        ),
        case(
            "load: manifest.json a directory",
            &["load", &dir_manifest, "-t", &target],
            &[&dir_manifest, "manifest.json"],
        ),
        case("load: a member name not UTF-8", &["load", &non_utf8, "-t", &target], &[&non_utf8, "UTF-8"]),
        case("load: manifest.json over 32 MiB", &["load", &huge, "-t", &target], &[&huge, "manifest.json"]),
        case("load: a damaged header checksum", &["load", &bad_checksum, "-t", &target], &[&bad_checksum]),
        case("load: an absolute member name", &["load", &absolute, "-t", &target], &[&absolute, "/etc/evil"]),
        case("load: no such file", &["load", "/no/such/image.tar", "-t", &target], &["/no/such/image.tar"]),
        case(
            "append: an archive base that does not exist",
            &["append", "docker-archive:/no/such/base.tar", "-f", &fx, "-t", &target],
            &["/no/such/base.tar"],
        ),
        case("append: a gzipped-text base", &["append", &text_gz, "-f", &fx, "-t", &target], &[&text_gz, "not a tar"]),
        // References.
        case("inspect: an empty reference", &["inspect", ""], &["\"\""]),
        case(
            "save: a short digest",
            &["save", &format!("{h_host}/base@sha256:123"), "-o", &out("x.tar")],
            &["sha256:123"],
        ),
        case("append: a tag of 129 characters", &["append", "scratch", "-f", &fx, "-t", &long_tag], &[&long_tag]),
        case("append: a name of 256 characters", &["append", "scratch", "-f", &fx, "-t", &long_name], &[&long_name]),
        case("load: a bad repository name", &["load", &good, "-t", &registry.reference("-catalog:1")], &["-catalog:1"]),
        case("ls: a port out of range", &["ls", "127.0.0.1:99999/x:1"], &["127.0.0.1:99999"]),
        case("inspect: two tags", &["inspect", &format!("{h_host}/base:1:2")], &[&format!("{h_host}/base:1:2")]),
        case("ls: a layer the image does not have", &["ls", &h_base, "--layer", "5"], &[&h_base, "--layer"]),
        case(
            "save: a platform the image is not for",
            &["save", &h_base, "--platform", "windows/amd64", "-o", &out("x.tar")],
            &[&h_base, "windows/amd64"],
        ),
        case(
            "append: a base that does not exist",
            &["append", &hostile.reference("nothere:1"), "-f", &fx, "-t", &target],
            &["nothere"],
        ),
        // Sources and options.
        case("layer: a device", &["layer", "-f", "/dev/null:/x", "-o", &out("l.tgz")], &["/dev/null"]),
        case(
            "append: a fifo in a directory",
            &["append", "scratch", "-f", &format!("{fifo_dir}:/d"), "-t", &target],
            &[&format!("{fifo_dir}/pipe")],
        ),
        case(
            "layer: a file name not UTF-8",
            &["layer", "-f", &format!("{odd_name_dir}:/d"), "-o", &out("l.tgz")],
            &[&odd_name_dir, "UTF-8"],
        ),
        case(
            "layer: a link target not UTF-8",
            &["layer", "-f", &format!("{odd_link_dir}:/d"), "-o", &out("l.tgz")],
            &[&format!("{odd_link_dir}/link"), "UTF-8"],
        ),
        case("layer: an empty source", &["layer", "-f", ":/x", "-o", &out("l.tgz")], &[":/x"]).usage(),
        case(
            "append: --delete with ..",
            &["append", "scratch", "--delete", "/a/../../etc", "-t", &target],
            &["/a/../../etc"],
        ),
        case(
            "append: --env without =",
            &["append", "scratch", "-f", &fx, "--env", "NOEQUALS", "-t", &target],
            &["--env", "NOEQUALS"],
        ),
        case(
            "append: --label without =",
            &["append", "scratch", "-f", &fx, "--label", "nolabel", "-t", &target],
            &["--label", "nolabel"],
        ),
        case(
            "append: --expose out of range",
            &["append", "scratch", "-f", &fx, "--expose", "70000/tcp", "-t", &target],
            &["70000"],
        ),
        case(
            "append: --expose unknown protocol",
            &["append", "scratch", "-f", &fx, "--expose", "80/icmp", "-t", &target],
            &["icmp"],
        ),
        case(
            "append: --entrypoint bad JSON",
            &["append", "scratch", "-f", &fx, "--entrypoint", "[\"/run", "-t", &target],
            &["--entrypoint"],
        ),
        case("inspect: --timeout not a duration", &["inspect", &h_base, "--timeout", "soon"], &["soon"]).usage(),
        case("inspect: --timeout under a second", &["inspect", &h_base, "--timeout", "0"], &["\"0\""]).usage(),
        // Outputs.
        case("layer: -o in a missing dir", &["layer", "-f", &fx, "-o", &nowhere], &["/no/such/dir"]),
        case("layer: -o an existing directory", &["layer", "-f", &fx, "-o", &into_dir], &[&into_dir]),
        case("save: -o under a file", &["save", &h_base, "-o", &under_file], &[&under_file]),
        case("save: -o an existing directory", &["save", &h_base, "-o", &into_dir], &[&into_dir]),
        case("append: -o in a missing dir", &["append", "scratch", "-f", &fx, "-o", &nowhere], &["/no/such/dir"]),
        // Registry behaviour (the hostile registry is the base; the real one the target).
        case("append: an endless manifest", &["append", &h_base, "-f", &fx, "-t", &target], &[&h_host, "larger than"])
            .rule(Rule::new("GET", "/manifests/", Action::Endless)),
        case("append: a manifest that is not JSON", &["append", &h_base, "-f", &fx, "-t", &target], &[&h_base]).rule(
            Rule::new(
                "GET",
                "/manifests/",
                Action::Answer {
                    status: 200,
                    headers: vec![("Content-Type".into(), "application/vnd.oci.image.manifest.v1+json".into())],
                    body: b"<html>not a manifest</html>".to_vec(),
                },
            ),
        ),
        case(
            "append: a manifest of an unknown type",
            &["append", &h_base, "-f", &fx, "-t", &target],
            &[&h_base, "application/vnd.example.thing"],
        )
        .rule(Rule::new(
            "GET",
            "/manifests/",
            Action::Answer {
                status: 200,
                headers: vec![("Content-Type".into(), "application/vnd.example.thing".into())],
                body: br#"{"schemaVersion":2,"mediaType":"application/vnd.example.thing"}"#.to_vec(),
            },
        )),
        case(
            "append: the config blob is missing",
            &["append", &h_base, "-f", &fx, "-t", &target],
            &[&h_host, &image.config_digest],
        )
        .rule(Rule::new("GET", &config_path, json_error(404, "BLOB_UNKNOWN"))),
        case(
            "append: the config blob is corrupt",
            &["append", &h_base, "-f", &fx, "-t", &target],
            &[&h_host, &image.config_digest],
        )
        .rule(Rule::new("GET", &config_path, Action::Corrupt)),
        case(
            "append: a pinned manifest with other bytes",
            &["append", &pinned, "-f", &fx, "-t", &target],
            &[&h_host, &wrong_digest],
        )
        .rule(Rule::new(
            "GET",
            &format!("/manifests/{wrong_digest}"),
            Action::Answer {
                status: 200,
                headers: vec![("Content-Type".into(), "application/vnd.oci.image.manifest.v1+json".into())],
                body: image.manifest.clone(),
            },
        )),
        case(
            "append: the base wants credentials",
            &["append", &h_base, "-f", &fx, "-t", &target],
            &[&h_host, "credentials"],
        )
        .rule(Rule::new(
            "*",
            "/v2/",
            Action::with_headers(401, &[("WWW-Authenticate", "Basic realm=\"hostile\"")]),
        )),
        case(
            "append: the base layer is corrupt on the way",
            &["append", &h_base, "-f", &fx, "-t", &target],
            &[&image.layer_digest],
        )
        .rule(Rule::new("GET", &layer_path, Action::Corrupt)),
        case("append: the base layer is cut short", &["append", &h_base, "-f", &fx, "-t", &target], &[&h_host])
            .rule(Rule::new("GET", &layer_path, Action::ShortBody { missing: 4096 })),
        case(
            "save: the layer is corrupt",
            &["save", &h_base, "-o", &out("x.tar")],
            &[&image.layer_digest, &out("x.tar")],
        )
        .rule(Rule::new("GET", &layer_path, Action::Corrupt)),
        case(
            "append: the target refuses the manifest",
            &["append", "scratch", "-f", &fx, "-t", &h_target(h_repos[0])],
            &[&h_host],
        )
        .rule(Rule::new("PUT", "/manifests/", json_error(400, "MANIFEST_INVALID"))),
        case(
            "append: the target's uploads fail",
            &["append", "scratch", "-f", &fx, "-t", &h_target(h_repos[1])],
            &[&h_host, "500"],
        )
        .rule(Rule::new("POST", "/blobs/uploads/", json_error(500, "UNKNOWN"))),
        case("load: the target denies the push", &["load", &good, "-t", &h_target(h_repos[2])], &[&h_host])
            .rule(Rule::new("PUT", "/manifests/", json_error(403, "DENIED"))),
        case(
            "load: the target's commit says the digest is wrong",
            &["load", &good, "-t", &h_target(h_repos[3])],
            &[&h_host],
        )
        .rule(Rule::new("PUT", "/blobs/uploads/", json_error(400, "DIGEST_INVALID"))),
    ];

    let count = cases.len();
    let mut failures = Vec::new();
    for case in cases {
        hostile.clear_rules();
        for rule in case.rules.iter().cloned() {
            hostile.add_rule(rule);
        }
        let before = listing(out_dir.path());
        let argv: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let (run, _) = cli(&argv, None, &[], HANG);
        let mut wrong = Vec::new();
        let expected = if case.usage { 2 } else { 1 };
        if run.status.code() != Some(expected) {
            wrong.push(format!("exit {:?}, not {expected}", run.status.code()));
        }
        if !(run.stderr.starts_with("error: ") || run.stderr.contains("\nerror: ")) || run.stderr.contains("panicked") {
            wrong.push("no clean `error:` line".to_owned());
        }
        if !run.stdout.is_empty() {
            wrong.push(format!("printed a result: {}", run.stdout.trim()));
        }
        for name in &case.names {
            if !run.stderr.contains(name.as_str()) {
                wrong.push(format!("the error does not name {name:?}"));
            }
        }
        if has_tags(&registry, "catalog") || h_repos.iter().any(|repo| !hostile.tags(repo).is_empty()) {
            wrong.push("something was pushed".to_owned());
        }
        let after = listing(out_dir.path());
        if after != before {
            wrong.push(format!("the output dir changed: {before:?} -> {after:?}"));
        }
        eprintln!("--- {}: {}", case.what, run.stderr.trim_end());
        if !wrong.is_empty() {
            failures.push(format!(
                "{} (`layerize {}`): {}\n  stderr: {}",
                case.what,
                argv.join(" "),
                wrong.join("; "),
                run.stderr.trim_end()
            ));
        }
    }
    assert!(count >= 40, "the catalog has {count} cases");
    assert!(failures.is_empty(), "{} of {count} cases failed:\n{}", failures.len(), failures.join("\n"));
    assert!(std::fs::read_dir(into_dir).expect("list").next().is_none(), "something was written into the directory");
}
