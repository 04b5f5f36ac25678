//! The page's "Download as docker-load tar", driven in headless Chromium through the real
//! server and proxy against the real registry: the base image as loaded, and the image just
//! built (not pushed) under a name typed in the page. The files Chromium downloads are judged
//! as `layerize save`'s are: docker loads them (ID = config digest, tags, layers) and runs the
//! new layer's file without a network; podman and skopeo read them. The File System Access
//! path writes the same bytes (its dialog answered by a stand-in, as headless Chromium shows
//! none).

use std::fs;
use std::path::Path;

use base64::Engine;
use layerize_tests::browser::Browser;
use layerize_tests::oci_layout::sha256_digest;
use layerize_tests::readers;
use layerize_tests::server::Server;
use layerize_tests::{push_single, Dockerd, Format, Registry, RegistryAuth};
use serde_json::Value;

use crate::files::HELLO;

/// Makes the page save through the browser's downloads: a headless browser cannot answer
/// the File System Access save dialog. Where the page offers that dialog, it is the default.
fn use_downloads(b: &Browser) {
    let script = "const e = document.getElementById('save-pick'); \
                  if (!e) return 'absent'; if (e.checked) e.click(); return e.checked ? 'checked' : 'unchecked';";
    let state = b.eval(script);
    assert!(state == "absent" || state == "unchecked", "the picker choice stayed on: {state}");
}

/// Answers the save dialog as a person would, with a file of its suggested name, in the
/// origin-private file system (where a page may write without a dialog); records the options.
const PICKER_STAND_IN: &str = "window.showSaveFilePicker = async (options) => { \
    window.pickerOptions = options; \
    const root = await navigator.storage.getDirectory(); \
    return root.getFileHandle(options.suggestedName, { create: true }); }; return true;";

/// The bytes of `name` in the page's origin-private file system.
fn private_file(b: &Browser, name: &str) -> Vec<u8> {
    let script = format!(
        "return (async () => {{ const root = await navigator.storage.getDirectory(); \
         const file = await (await root.getFileHandle({name:?})).getFile(); \
         const bytes = new Uint8Array(await file.arrayBuffer()); let s = ''; \
         for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000)); \
         return btoa(s); }})();"
    );
    let encoded = b.eval(&script);
    base64::engine::general_purpose::STANDARD.decode(encoded.as_str().expect("base64 text")).expect("base64")
}

/// Clicks download and waits for the page to report the file and the browser to finish it.
fn download(b: &mut Browser, file: &str, step: &str) -> std::path::PathBuf {
    b.click("#save-button");
    b.wait_for_text("#save-file", file);
    let path = b.wait_download(file);
    b.screenshot(step);
    path
}

/// docker's, podman's and skopeo's view of a downloaded tar holding one image; `podman_name`
/// is `name` as podman spells it (Docker Hub names in full).
fn check_loads(docker: &Dockerd, tar: &Path, name: &str, podman_name: &str, config_digest: &str, layers: usize) {
    let loaded = docker.load(tar);
    assert!(loaded.contains(name), "docker load: {loaded}");
    let inspect = docker.image_inspect(name);
    assert_eq!(inspect["Id"], config_digest, "docker's image ID is the config digest");
    assert_eq!(inspect["RepoTags"], serde_json::json!([name]));
    assert_eq!(inspect["RootFS"]["Layers"].as_array().map(Vec::len), Some(layers));

    let podman = readers::podman_load(tar);
    let line = format!("{podman_name} {config_digest}");
    assert!(podman.contains(&line), "podman lists {line}: {podman:?}");
    let summary = readers::skopeo_inspect_archive(&format!("docker-archive:{}", tar.display()));
    assert_eq!(summary["Layers"].as_array().map(Vec::len), Some(layers), "{summary}");
    let summary = readers::skopeo_inspect_archive(&format!("oci-archive:{}", tar.display()));
    assert_eq!(summary["Layers"].as_array().map(Vec::len), Some(layers), "{summary}");
}

/// `len` bytes that gzip cannot shrink (xorshift), the same on every run.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn page_downloads_base_and_built_images_as_docker_load_tars() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_single(&registry, "base:1", Format::Docker);
    let server = Server::start(&[registry.host()]);
    let files = tempfile::tempdir().expect("temp dir");
    let app = files.path().join("app");
    fs::create_dir_all(&app).expect("mkdir");
    fs::write(app.join("hello.txt"), HELLO).expect("write");
    // Incompressible and larger than a Blob part and a drain, so the tar crosses both.
    let noise = noise(9 << 20);
    fs::write(app.join("noise.bin"), &noise).expect("write");

    let mut b = Browser::start("page-save");
    b.goto(&server.url());
    b.fill("#base-ref", &base.reference);
    b.click("#base-load");
    assert_eq!(b.wait_text("#base-digest"), base.digest);

    // The base image, under its own name (the default), first to a picked file (Chromium has
    // the File System Access API, so that is the default), then through the downloads.
    let name = b.eval("return document.getElementById('save-name').value;");
    assert_eq!(name, base.reference.as_str(), "the base's name is the default");
    assert_eq!(b.eval("return document.getElementById('save-pick').checked;"), true, "a picked file is the default");
    b.eval(PICKER_STAND_IN);
    b.click("#save-button");
    b.wait_for_text("#save-file", "base-1.tar");
    assert_eq!(b.eval("return window.pickerOptions.types[0].accept['application/x-tar'][0];"), ".tar");
    let picked = private_file(&b, "base-1.tar");
    use_downloads(&b);
    let base_tar = download(&mut b, "base-1.tar", "base-saved");
    assert_eq!(picked, fs::read(&base_tar).expect("read"), "the picked file and the download hold the same bytes");

    // A name that is not a reference is refused in words.
    b.fill("#prefix", "/opt\u{E004}");
    b.pick("#folder-input", &app);
    b.wait_count("#rows tr.file-row", 2);
    b.click("#build-button");
    let layer_digest = b.wait_text("#blob-digest");
    assert_eq!(
        b.eval("return document.getElementById('save-built').checked;"),
        true,
        "the built image is chosen once there is one"
    );
    b.fill("#save-name", "Not A Name");
    b.click("#save-button");
    let e = b.wait_error();
    assert!(e.contains("name for the tar") && e.contains("Not A Name"), "{e}");
    b.click("#error .dismiss");

    // The built image, never pushed, under a name typed in the page.
    b.fill("#save-name", "saved/app:2");
    let built_tar = download(&mut b, "app-2.tar", "built-saved");
    let manifest: Value = serde_json::from_str(&b.wait_text("#new-manifest")).expect("the page's manifest is JSON");
    let config_digest = manifest["config"]["digest"].as_str().expect("config digest").to_owned();
    assert_eq!(manifest["layers"][1]["digest"], layer_digest.as_str());

    let docker = Dockerd::start();
    let base_config = sha256_digest(&readers::skopeo_inspect_config(&registry, "base:1"));
    check_loads(&docker, &base_tar, &base.reference, &base.reference, &base_config, 1);
    check_loads(&docker, &built_tar, "saved/app:2", "docker.io/saved/app:2", &config_digest, 2);
    assert_eq!(docker.run("saved/app:2", &["cat", "/opt/app/hello.txt"]), HELLO);
    let summed = docker.run("saved/app:2", &["/bin/busybox", "sha256sum", "/opt/app/noise.bin"]);
    assert_eq!(format!("sha256:{}", summed.split_whitespace().next().unwrap_or_default()), sha256_digest(&noise));
    let listed =
        String::from_utf8(std::process::Command::new("tar").arg("-tf").arg(&built_tar).output().expect("tar").stdout)
            .expect("UTF-8");
    assert!(listed.lines().any(|l| l == "manifest.json") && listed.lines().any(|l| l == "index.json"), "{listed}");
}

/// An image tar opened in the page (one `layerize save` wrote) is a base like a pulled one:
/// the layer built on it is downloaded as a tar docker runs, and pushed with the base's layers
/// uploaded from the tar. A gzipped tar opens as well; a file that is no tar is refused in words.
#[test]
fn page_takes_an_image_tar_as_the_base() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_single(&registry, "base:1", Format::Docker);
    let dir = tempfile::tempdir().expect("temp dir");
    let base_tar = dir.path().join("base.tar");
    crate::cli::layerize(&["save", &base.reference, "-o", &base_tar.display().to_string(), "-q"], None, None).ok();
    let gzipped = dir.path().join("gzipped.tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &fs::read(&base_tar).expect("read")).expect("gzip");
    fs::write(&gzipped, gz.finish().expect("gzip")).expect("write");
    let not_tar = dir.path().join("notes.tar");
    fs::write(&not_tar, "these are notes, not a tar\n".repeat(40)).expect("write");
    let app = dir.path().join("app");
    fs::create_dir_all(&app).expect("mkdir");
    fs::write(app.join("hello.txt"), HELLO).expect("write");
    let server = Server::start(&[registry.host()]);

    let mut b = Browser::start("page-archive-base");
    // Opened at a shared address; a base from a local file cannot be shared, so it goes.
    b.goto(&format!("{}/?image={}", server.url(), base.reference));
    assert_eq!(b.wait_text("#base-digest"), base.digest);
    // A gzipped tar opens too (gunzipped in the worker, its layers sliced from that).
    b.pick("#archive-input", &gzipped);
    assert!(b.wait_text("#archive-name").contains("gzipped.tar"));
    assert_eq!(b.wait_text("#base-digest"), base.digest, "the gzipped tar's manifest, byte for byte");
    b.click("#base-layers tbody tr:nth-child(1) button.layer-files-button");
    b.wait_done("#layer-files-count");
    let listed = crate::cli::layerize(&["ls", "--layer", "1", "--json", &base.reference], None, None).ok();
    assert_eq!(
        b.wait_text("#layer-files-count"),
        listed.lines().count().to_string(),
        "a layer of the gunzipped tar lists as the CLI lists it"
    );
    b.pick("#archive-input", &not_tar);
    let e = b.wait_error();
    assert!(e.contains("notes.tar") && e.contains("not a tar"), "{e}");
    b.click("#error .dismiss");

    b.pick("#archive-input", &base_tar);
    assert_eq!(b.wait_text("#base-digest"), base.digest, "the tar's manifest, byte for byte");
    assert!(b.wait_text("#archive-name").contains("base.tar"));
    assert_eq!(b.eval("return window.location.search;"), "", "the address no longer names a registry image");
    b.screenshot("tar-opened");
    b.fill("#prefix", "/opt\u{E004}");
    b.pick("#folder-input", &app);
    b.wait_count("#rows tr.file-row", 1);
    b.click("#build-button");
    let layer_digest = b.wait_text("#blob-digest");
    let manifest: Value = serde_json::from_str(&b.wait_text("#new-manifest")).expect("JSON");
    let config_digest = manifest["config"]["digest"].as_str().expect("config digest").to_owned();

    use_downloads(&b);
    b.fill("#save-name", "fromtar:1");
    let tar = download(&mut b, "fromtar-1.tar", "built-on-tar-saved");
    b.fill("#target-ref", &registry.reference("fromtar:1"));
    b.click("#push-button");
    let pushed = b.wait_text("#push-result");
    b.screenshot("built-on-tar-pushed");

    let docker = Dockerd::start();
    check_loads(&docker, &tar, "fromtar:1", "docker.io/library/fromtar:1", &config_digest, 2);
    assert_eq!(docker.run("fromtar:1", &["cat", "/opt/app/hello.txt"]), HELLO);
    let raw = readers::skopeo_inspect_raw(&registry, "fromtar:1");
    assert_eq!(pushed, format!("{}@{}", registry.reference("fromtar"), sha256_digest(&raw)));
    let pushed_manifest: Value = serde_json::from_slice(&raw).expect("JSON");
    assert_eq!(pushed_manifest["layers"][1]["digest"], layer_digest.as_str());
    let oci = readers::skopeo_copy_to_oci(&registry, "fromtar:1");
    assert_eq!(readers::diff_ids_match(oci.path()), 1);
    assert_eq!(sha256_digest(&readers::skopeo_inspect_config(&registry, "fromtar:1")), config_digest);
}

/// The tar `docker save` writes (Docker 20's legacy layout: uncompressed `<id>/layer.tar`,
/// no manifest of its own) as the base: the page builds on the manifest the core makes over
/// the layers as stored, and the download loads back into docker with the base's layers.
#[test]
fn page_lists_and_merges_the_layers_of_an_image_tar_without_its_registry() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_single(&registry, "base:1", Format::Oci);
    let dir = tempfile::tempdir().expect("temp dir");
    let base_tar = dir.path().join("base.tar");
    crate::cli::layerize(&["save", &base.reference, "-o", &base_tar.display().to_string(), "-q"], None, None).ok();
    let listed = crate::cli::layerize(&["ls", "--layer", "1", "--json", &base.reference], None, None).ok();
    let merged = crate::cli::layerize(&["ls", "--merged", "--json", &base.reference], None, None).ok();
    // From here on the tar is the only copy: the page must read its layers from the file.
    drop(registry);
    let server = Server::start(&[]);
    let mut b = Browser::start("page-archive-layers");
    b.goto(&server.url());
    b.pick("#archive-input", &base_tar);
    assert_eq!(b.wait_text("#base-digest"), base.digest);
    b.click("#base-layers tbody tr:nth-child(1) button.layer-files-button");
    assert_eq!(
        b.wait_done("#layer-files-count"),
        listed.lines().count().to_string(),
        "the page lists the tar's layer as the CLI lists the registry's"
    );
    b.click("#merged-load");
    assert_eq!(
        b.wait_done("#merged-files-count"),
        merged.lines().count().to_string(),
        "the page merges the tar's layers as the CLI merges the registry's"
    );
    b.screenshot("tar-layers");
}

#[test]
fn page_builds_on_a_docker_save_tar() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_single(&registry, "base:1", Format::Docker);
    let docker = Dockerd::start();
    docker.pull(&base.reference);
    let dir = tempfile::tempdir().expect("temp dir");
    let saved = dir.path().join("docker-saved.tar");
    docker.save(&[&base.reference], &saved);
    let app = dir.path().join("app");
    fs::create_dir_all(&app).expect("mkdir");
    fs::write(app.join("hello.txt"), HELLO).expect("write");
    let server = Server::start(&[registry.host()]);

    let mut b = Browser::start("page-docker-save-base");
    b.goto(&server.url());
    b.pick("#archive-input", &saved);
    b.wait_text("#base-digest");
    assert!(b.wait_text("#archive-name").contains("docker-saved.tar"));
    b.fill("#prefix", "/opt\u{E004}");
    b.pick("#folder-input", &app);
    b.wait_count("#rows tr.file-row", 1);
    b.click("#build-button");
    b.wait_text("#blob-digest");
    let manifest: Value = serde_json::from_str(&b.wait_text("#new-manifest")).expect("JSON");
    assert_eq!(
        manifest["layers"][0]["mediaType"], "application/vnd.docker.image.rootfs.diff.tar",
        "the base layer as docker stored it"
    );
    let config_digest = manifest["config"]["digest"].as_str().expect("config digest").to_owned();
    use_downloads(&b);
    b.fill("#save-name", "from-docker:1");
    let tar = download(&mut b, "from-docker-1.tar", "built-on-docker-save");

    check_loads(&docker, &tar, "from-docker:1", "docker.io/library/from-docker:1", &config_digest, 2);
    assert_eq!(docker.run("from-docker:1", &["cat", "/opt/app/hello.txt"]), HELLO);
    let layers = docker.image_inspect("from-docker:1")["RootFS"]["Layers"].clone();
    assert_eq!(
        layers[0],
        docker.image_inspect(&base.reference)["RootFS"]["Layers"][0],
        "the base layer is docker's own"
    );
}

/// A base layer whose bytes in the registry no longer match its digest stops the download
/// with an error naming the layer, and the browser saves no file.
#[test]
fn page_save_of_a_damaged_layer_fails_in_words() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let base = push_single(&registry, "base:1", Format::Oci);
    let manifest: Value = serde_json::from_slice(&readers::skopeo_inspect_raw(&registry, "base:1")).expect("JSON");
    let layer = manifest["layers"][0]["digest"].as_str().expect("layer digest").to_owned();
    let hex = layer.trim_start_matches("sha256:");
    let data = registry.storage_dir().join(format!("docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]));
    let mut blob = fs::read(&data).expect("registry blob");
    let middle = blob.len() / 2;
    blob[middle] ^= 0x55;
    fs::write(&data, &blob).expect("damage the registry's blob");
    let server = Server::start(&[registry.host()]);

    let mut b = Browser::start("page-save-damaged");
    b.goto(&server.url());
    b.fill("#base-ref", &base.reference);
    b.click("#base-load");
    b.wait_text("#base-digest");
    use_downloads(&b);
    b.click("#save-button");
    let e = b.wait_error();
    assert!(e.contains(&layer) && e.contains("base-1.tar"), "{e}");
    b.screenshot("damaged");
    std::thread::sleep(std::time::Duration::from_secs(1));
    let saved: Vec<_> = fs::read_dir(b.downloads()).expect("downloads").collect();
    assert!(saved.is_empty(), "nothing is downloaded: {saved:?}");
}
