//! The CLI against registries that misbehave on purpose ([`Hostile`], a tripwire beside it):
//! credentials never follow an upload or a download to another origin, stalls and 5xx end in an
//! error naming the registry (and soon), a gzip bomb is refused or cut off at the tar's end, a
//! run killed with SIGKILL leaves nothing the next run does not sweep, an ambiguous archive and
//! a `file://` token realm are refused by name. Each test owns its servers, ports and dirs.

use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use layerize_tests::hostile::{Action, Auth, Hostile, Rule, Seen, StoredImage};
use layerize_tests::{http, Registry, RegistryAuth};

use crate::bad_input::has_tags;
use crate::cli::{pushed_digest, Run};

const USER: &str = "hostile-user";
const PASSWORD: &str = "Hx7-never-shown-pw";
const TOKEN: &str = "tok-3f9a-for-the-registry-only";
/// A command that should take seconds is stopped (and the test fails) after this.
pub(crate) const HANG: Duration = Duration::from_secs(30);
/// The layer of the images the hostile registry holds: big enough to stall in its middle.
const LAYER_SIZE: usize = 512 << 10;

/// Runs `layerize ARGS` with `stdin`, a private empty Docker config and `env` (nothing else
/// from `LAYERIZE_*`); kills it by its PID and fails the test if it runs longer than `limit`.
/// Returns the run and how long it took.
pub(crate) fn cli(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)], limit: Duration) -> (Run, Duration) {
    let empty = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let mut command = Command::new(layerize_tests::layerize());
    command
        .args(args)
        .env("DOCKER_CONFIG", empty.path())
        .env_remove("LAYERIZE_TIMEOUT")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn layerize");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait layerize") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.join().unwrap_or_default();
            panic!("`layerize {}` still ran after {} s; its stderr:\n{stderr}", args.join(" "), limit.as_secs());
        }
        thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let run = Run { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() };
    (run, elapsed)
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// Files in `dir`, by name.
pub(crate) fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn temp_files(dir: &Path) -> Vec<String> {
    listing(dir).into_iter().filter(|n| n.starts_with(".layerize-") && n.ends_with(".tmp")).collect()
}

/// A one-file source for `-f`.
fn small_file(dir: &Path) -> String {
    let file = dir.join("x.txt");
    fs::write(&file, "a small file\n").expect("write");
    path(&file)
}

fn describe(seen: &[Seen]) -> String {
    seen.iter()
        .map(|s| format!("{} {} auth={}", s.method, s.target, s.authorization().is_some()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Neither the password nor its Basic encoding in a run's output.
fn assert_quiet_about_secrets(run: &Run) {
    let encoded = STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for secret in [PASSWORD, encoded.as_str(), TOKEN] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "{secret:?} shown:\n{}", run.stderr);
    }
}

fn secrets() -> Vec<String> {
    vec![PASSWORD.to_owned(), STANDARD.encode(format!("{USER}:{PASSWORD}")), TOKEN.to_owned()]
}

/// Defect class 1: A Basic-auth registry whose upload `Location`s (a fresh upload's and a refused
/// mount's) are on another port: the bytes go there, the credentials never do.
#[test]
fn hostile_upload_location_elsewhere_gets_no_credentials() {
    let tripwire = Hostile::tripwire();
    let hostile = Hostile::start(Auth::Basic { user: USER.into(), password: PASSWORD.into() });
    hostile.set_upload_base(&tripwire.url());
    let base = hostile.add_image("base", "1", 64 << 10);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = small_file(dir.path());

    // A mount the registry answers 202 with a Location on the tripwire (as a registry does
    // when it cannot mount): the base layer is streamed there, without credentials.
    let mounted = format!("{}/v2/mounted/blobs/uploads/from-a-mount", tripwire.url());
    hostile.add_rule(Rule::new("POST", "mount=", Action::with_headers(202, &[("Location", &mounted)])));
    let before = tripwire.seen().len();
    let (run, _) = cli(
        &[
            "append",
            &hostile.reference("base:1"),
            "-f",
            &format!("{file}:/x"),
            "-t",
            &hostile.reference("mounted:1"),
            "--username",
            USER,
            "--password-stdin",
            "-q",
        ],
        Some(PASSWORD),
        &[],
        HANG,
    );
    assert_quiet_about_secrets(&run);
    pushed_digest(&run.ok(), &hostile.reference("mounted"));
    let mount = hostile.seen().into_iter().find(|s| s.method == "POST" && s.target.contains("mount="));
    assert!(
        mount
            .as_ref()
            .is_some_and(|m| m.target.contains(&base.layer_digest.replace(':', "%3A")) && m.authorization().is_some()),
        "no mount of the base layer was asked for:\n{}",
        describe(&hostile.seen())
    );
    let seen = tripwire.seen().split_off(before);
    let layer_put = format!("digest={}", base.layer_digest.replace(':', "%3A"));
    assert!(
        seen.iter().any(|s| s.method == "PUT" && s.target.contains(&layer_put)),
        "the base layer was not uploaded at the mount's Location:\n{}",
        describe(&seen)
    );
    assert!(seen.iter().all(|s| s.authorization().is_none()), "credentials reached the tripwire:\n{}", describe(&seen));

    // scratch + a file: two uploads (layer, config), both sent to the tripwire.
    let before = tripwire.seen().len();
    let target = hostile.reference("repo:1");
    let (run, _) = cli(
        &[
            "append",
            "scratch",
            "-f",
            &format!("{file}:/x"),
            "-t",
            &target,
            "--username",
            USER,
            "--password-stdin",
            "-q",
        ],
        Some(PASSWORD),
        &[],
        HANG,
    );
    assert_quiet_about_secrets(&run);
    pushed_digest(&run.ok(), &hostile.reference("repo"));
    let seen = tripwire.seen().split_off(before);
    assert!(
        seen.iter().filter(|s| s.method == "PATCH").count() >= 2
            && seen.iter().filter(|s| s.method == "PUT").count() >= 2,
        "the uploads went on at their Location:\n{}",
        describe(&seen)
    );
    assert!(seen.iter().all(|s| s.authorization().is_none()), "credentials reached the tripwire:\n{}", describe(&seen));
    let posts: Vec<Seen> = hostile.seen().into_iter().filter(|s| s.method == "POST").collect();
    assert!(!posts.is_empty() && posts.iter().all(|s| s.authorization().is_some()), "{}", describe(&hostile.seen()));
    assert_eq!(hostile.tags("repo"), ["1"]);

    tripwire.assert_never_saw(&secrets().iter().map(String::as_str).collect::<Vec<_>>());
}

/// Defect class 1: Token auth with the realm on another port: the realm gets the Basic credentials
/// (that is Docker's token flow), the registry gets only the token, and an upload `Location` on a
/// third port gets neither.
#[test]
fn hostile_token_realm_elsewhere_and_upload_elsewhere() {
    let realm = Hostile::tripwire();
    realm.serve_token(TOKEN);
    let tripwire = Hostile::tripwire();
    let hostile = Hostile::start(Auth::Bearer { realm: format!("{}/token", realm.url()), token: TOKEN.into() });
    hostile.set_upload_base(&tripwire.url());
    hostile.add_image("base", "1", 64 << 10);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = small_file(dir.path());
    let (run, _) = cli(
        &[
            "append",
            &hostile.reference("base:1"),
            "-f",
            &format!("{file}:/x"),
            "-t",
            &hostile.reference("repo:1"),
            "--username",
            USER,
            "--password-stdin",
            "-q",
        ],
        Some(PASSWORD),
        &[],
        HANG,
    );
    assert_quiet_about_secrets(&run);
    pushed_digest(&run.ok(), &hostile.reference("repo"));
    let asked = realm.seen();
    assert!(
        !asked.is_empty() && asked.iter().all(|s| s.path() == "/token"),
        "the realm was asked for something else:\n{}",
        describe(&asked)
    );
    hostile.assert_never_saw(&[PASSWORD, &STANDARD.encode(format!("{USER}:{PASSWORD}"))]);
    let seen = tripwire.seen();
    assert!(seen.iter().any(|s| s.method == "PUT"), "{}", describe(&seen));
    assert!(seen.iter().all(|s| s.authorization().is_none()), "credentials reached the tripwire:\n{}", describe(&seen));
    tripwire.assert_never_saw(&secrets().iter().map(String::as_str).collect::<Vec<_>>());
}

/// Defect class 1: A blob download redirected to another port, then back to the registry: the
/// redirect on the registry's own origin keeps the credentials, every hop after the first to
/// another origin has none, even the one back to the registry.
#[test]
fn hostile_download_redirect_elsewhere_drops_credentials() {
    let tripwire = Hostile::tripwire();
    let hostile = Hostile::start(Auth::Basic { user: USER.into(), password: PASSWORD.into() });
    let image = hostile.add_image("base", "1", 64 << 10);
    tripwire.put_blob("elsewhere", &image.layer);
    let layer = &image.layer_digest;
    hostile.add_rule(Rule::new("GET", &format!("/blobs/{layer}"), Action::redirect("/v2/base/hop/one")));
    hostile.add_rule(Rule::new(
        "GET",
        "/v2/base/hop/one",
        Action::redirect(&format!("{}/v2/elsewhere/hop/two", tripwire.url())),
    ));
    tripwire.add_rule(Rule::new("GET", "/hop/two", Action::redirect(&format!("{}/v2/base/hop/three", hostile.url()))));
    hostile.add_rule(Rule::new(
        "GET",
        "/v2/base/hop/three",
        Action::redirect(&format!("{}/v2/elsewhere/blobs/{layer}", tripwire.url())),
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.tar");
    let (run, _) = cli(
        &["save", &hostile.reference("base:1"), "-o", &path(&out), "--username", USER, "--password-stdin", "-q"],
        Some(PASSWORD),
        &[],
        HANG,
    );
    assert_quiet_about_secrets(&run);
    run.ok();
    assert_eq!(listing(dir.path()), ["out.tar"]);

    let hops = |server: &Hostile, hop: &str| -> Vec<Seen> {
        server.seen().into_iter().filter(|s| s.path().ends_with(hop)).collect()
    };
    let all = format!("registry:\n{}\ntripwire:\n{}", describe(&hostile.seen()), describe(&tripwire.seen()));
    let one = hops(&hostile, "/hop/one");
    assert!(!one.is_empty() && one.iter().all(|s| s.authorization().is_some()), "same origin keeps them:\n{all}");
    let last_hop = format!("/blobs/{layer}");
    for (server, hop) in [(&tripwire, "/hop/two"), (&hostile, "/hop/three"), (&tripwire, last_hop.as_str())] {
        let got = hops(server, hop);
        assert!(!got.is_empty(), "{hop} was never asked for:\n{all}");
        assert!(got.iter().all(|s| s.authorization().is_none()), "{hop} got credentials:\n{all}");
    }
    tripwire.assert_never_saw(&secrets().iter().map(String::as_str).collect::<Vec<_>>());
}

/// Defect class 4: Stalls with `--timeout 2s` (and `LAYERIZE_TIMEOUT=2`): before the headers (3
/// tries of the GET), and in the middle of the body; `inspect` fails naming the registry and the
/// idle timeout, in seconds, not minutes.
#[test]
fn hostile_stalls_time_out_for_inspect() {
    let hostile = Hostile::start(Auth::None);
    hostile.add_image("base", "1", LAYER_SIZE);
    let reference = hostile.reference("base:1");
    let stalls = [(Action::StallBeforeHeaders, "before the headers"), (Action::StallMidBody { after: 40 }, "mid-body")];
    for (stall, when) in stalls {
        for env in [&[][..], &[("LAYERIZE_TIMEOUT", "2")][..]] {
            hostile.clear_rules();
            hostile.add_rule(Rule::new("*", "/manifests/", stall.clone()));
            let before = hostile.seen().len();
            // Three tries (not the default five), so that three stalls of 2 s stay quick.
            let mut args = vec!["inspect", reference.as_str(), "--retries", "3"];
            if env.is_empty() {
                args.extend(["--timeout", "2s"]);
            }
            let (run, took) = cli(&args, None, env, HANG);
            let e = run.fails();
            assert!(e.contains(&hostile.host()) && e.contains("no data for 2 s"), "stall {when}: {e}");
            assert!(e.contains("--timeout"), "the error says how to change the timeout: {e}");
            let tries = hostile.seen()[before..].iter().filter(|s| s.path().contains("/manifests/")).count();
            if matches!(stall, Action::StallBeforeHeaders) {
                assert_eq!(tries, 3, "a stalled GET is tried 3 times:\n{}", describe(&hostile.seen()[before..]));
                assert!(took >= Duration::from_secs(6), "3 tries of 2 s took only {took:?}");
            }
            assert!(took < Duration::from_secs(20), "stall {when} took {took:?}");
        }
    }
}

/// Defect class 4: Stalls while `save` downloads the layer: no file is left in the output dir.
#[test]
fn hostile_stalls_time_out_for_save() {
    let hostile = Hostile::start(Auth::None);
    let image = hostile.add_image("base", "1", LAYER_SIZE);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.tar");
    for stall in [Action::StallBeforeHeaders, Action::StallMidBody { after: LAYER_SIZE / 2 }] {
        hostile.clear_rules();
        hostile.add_rule(Rule::new("GET", &format!("/blobs/{}", image.layer_digest), stall.clone()));
        let (run, took) = cli(
            &["save", &hostile.reference("base:1"), "-o", &path(&out), "--timeout", "2s", "--retries", "3"],
            None,
            &[],
            HANG,
        );
        let e = run.fails();
        assert!(
            e.contains(&hostile.host()) && e.contains("no data for 2 s") && e.contains(&path(&out)),
            "{stall:?}: {e}"
        );
        assert!(took < Duration::from_secs(20), "{stall:?} took {took:?}");
        assert!(listing(dir.path()).is_empty(), "a failed save leaves nothing: {:?}", listing(dir.path()));
    }
}

/// Defect class 4: Answers that say "try later": retried (3 tries here, `--retries 3`; 5 by default)
/// honouring a short `Retry-After`,
/// then an error naming the registry and the status; a `Retry-After` beyond 30 s is not waited for.
#[test]
fn hostile_server_errors_are_retried_then_named() {
    let hostile = Hostile::start(Auth::None);
    hostile.add_image("base", "1", 4 << 10);
    let reference = hostile.reference("base:1");
    let cases: [(u16, Option<&str>, usize, Duration); 4] = [
        (500, None, 3, Duration::ZERO),
        (503, Some("1"), 3, Duration::from_secs(2)),
        (429, Some("1"), 3, Duration::from_secs(2)),
        (503, Some("3600"), 1, Duration::ZERO),
    ];
    for (status, retry_after, tries, at_least) in cases {
        hostile.clear_rules();
        let headers: Vec<(&str, &str)> = retry_after.map(|r| ("Retry-After", r)).into_iter().collect();
        let mut action = Action::with_headers(status, &headers);
        if let Action::Answer { body, .. } = &mut action {
            *body = b"{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"try later\"}]}".to_vec();
        }
        hostile.add_rule(Rule::new("GET", "/manifests/", action));
        let before = hostile.seen().len();
        let (run, took) = cli(&["inspect", &reference, "--timeout", "5s", "--retries", "3"], None, &[], HANG);
        let e = run.fails();
        assert!(e.contains(&hostile.host()) && e.contains(&status.to_string()), "{status}: {e}");
        let seen = hostile.seen().split_off(before);
        let asked = seen.iter().filter(|s| s.path().contains("/manifests/")).count();
        assert_eq!(asked, tries, "{status} Retry-After {retry_after:?}:\n{}", describe(&seen));
        assert!(
            took >= at_least && took < Duration::from_secs(20),
            "{status} Retry-After {retry_after:?} took {took:?}"
        );
    }
}

/// Bodies that lie: endless, corrupted, shorter than their `Content-Length`, and a redirect
/// loop. Each fails naming the registry, soon, and `save` leaves no file.
#[test]
fn hostile_lying_bodies_and_redirect_loops_fail_by_name() {
    let hostile = Hostile::start(Auth::None);
    let image = hostile.add_image("base", "1", LAYER_SIZE);
    let reference = hostile.reference("base:1");
    let host = hostile.host();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.tar");
    let layer = format!("/blobs/{}", image.layer_digest);
    let config = format!("/blobs/{}", image.config_digest);
    let out = path(&out);
    let inspect = vec!["inspect", reference.as_str()];
    let save = vec!["save", reference.as_str(), "-o", out.as_str()];
    let cases: Vec<(Rule, &Vec<&str>, Vec<&str>)> = vec![
        (Rule::new("GET", "/manifests/", Action::Endless), &inspect, vec!["larger than"]),
        (Rule::new("GET", &config, Action::Endless), &inspect, vec!["larger than"]),
        (Rule::new("GET", &config, Action::Corrupt), &inspect, vec!["digest"]),
        (Rule::new("GET", &layer, Action::Endless), &save, vec![]),
        (Rule::new("GET", &layer, Action::Corrupt), &save, vec!["digest"]),
        (Rule::new("GET", &layer, Action::ShortBody { missing: 1000 }), &save, vec![]),
        (Rule::new("GET", &layer, Action::redirect(&format!("/v2/base{layer}"))), &save, vec!["redirected more than"]),
        (
            Rule::new("GET", "/manifests/", Action::redirect("/v2/base/manifests/1")),
            &inspect,
            vec!["redirected more than"],
        ),
    ];
    for (rule, args, words) in cases {
        hostile.clear_rules();
        let shown = format!("{} with {rule:?}", args[0]);
        hostile.add_rule(rule);
        let (run, took) = cli(args, None, &[], HANG);
        let e = run.fails();
        assert!(e.contains(&host), "{shown}: the error names no registry: {e}");
        for word in words {
            assert!(e.contains(word), "{shown}: no {word:?} in {e}");
        }
        assert!(took < Duration::from_secs(20), "{shown} took {took:?}");
        assert!(listing(dir.path()).is_empty(), "{shown} left {:?}", listing(dir.path()));
    }
}

/// Blobs that lie never land in the store: a corrupted layer, one longer than its descriptor
/// (endless) and one cut short fail the pull naming the registry, and no blob named after the
/// layer, and no name, is left.
#[test]
fn hostile_lying_blobs_never_land_in_the_store() {
    let hostile = Hostile::start(Auth::None);
    let image = hostile.add_image("base", "1", LAYER_SIZE);
    let reference = hostile.reference("base:1");
    let layer = format!("/blobs/{}", image.layer_digest);
    for action in [Action::Corrupt, Action::Endless, Action::ShortBody { missing: 1000 }] {
        hostile.clear_rules();
        let shown = format!("{action:?}");
        hostile.add_rule(Rule::new("GET", &layer, action));
        let store = tempfile::tempdir().expect("temp dir");
        let store_dir = store.path().join("store");
        let (run, took) = cli(&["pull", &reference, "--store", &path(&store_dir), "--retries", "2"], None, &[], HANG);
        let e = run.fails();
        assert!(e.contains(&hostile.host()), "{shown}: the error names no registry: {e}");
        assert!(took < Duration::from_secs(20), "{shown} took {took:?}");
        let hex = image.layer_digest.trim_start_matches("sha256:");
        assert!(!store_dir.join("blobs/sha256").join(hex).exists(), "{shown}: the lying layer landed");
        let index = fs::read_to_string(store_dir.join("index.json")).unwrap_or_default();
        assert!(!index.contains("base:1"), "{shown}: the image was named: {index}");
    }
}

/// 64 MiB of zeros as one gzip member (made once, repeated by the caller).
fn zeros_member() -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&zeros).expect("gzip");
    }
    gz.finish().expect("gzip")
}

/// Writes `prefix`, then `member` `count` times, to `to`.
fn write_bomb(to: &Path, prefix: &[u8], member: &[u8], count: usize) {
    let mut out = BufWriter::new(fs::File::create(to).expect("create"));
    out.write_all(prefix).expect("write");
    for _ in 0..count {
        out.write_all(member).expect("write");
    }
    out.flush().expect("flush");
}

/// Defect class 3: A gzip bomb of 32 GiB of zeros is no tar: refused at its first block, naming the
/// file. A valid archive followed by 64 GiB of zeros loads: nothing past the tar's end is inflated
/// (inflating it all would take minutes, or fill the disk).
#[test]
fn hostile_gzip_bombs_are_not_inflated() {
    let registry = Registry::start(RegistryAuth::Anonymous);
    let source = Hostile::start(Auth::None);
    let image = source.add_image("base", "1", 64 << 10);
    let dir = tempfile::tempdir().expect("temp dir");
    let member = zeros_member();
    assert!(member.len() < 1 << 20, "64 MiB of zeros gzip to {} bytes", member.len());

    let bomb = dir.path().join("bomb.tar.gz");
    write_bomb(&bomb, &[], &member, 512);
    let (run, took) = cli(&["load", &path(&bomb), "-t", &registry.reference("bomb:1")], None, &[], HANG);
    let e = run.fails();
    assert!(e.contains(&path(&bomb)) && e.contains("not a tar"), "{e}");
    assert!(took < HANG, "{took:?}");
    assert!(!has_tags(&registry, "bomb"));

    let tar = dir.path().join("base.tar");
    let (run, _) = cli(&["save", &source.reference("base:1"), "-o", &path(&tar), "-q"], None, &[], HANG);
    run.ok();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&fs::read(&tar).expect("read")).expect("gzip");
    let valid = gz.finish().expect("gzip");
    let trailed = dir.path().join("trailed.tar.gz");
    write_bomb(&trailed, &valid, &member, 1024);
    let (run, took) = cli(&["load", &path(&trailed), "-t", &registry.reference("trailed:1"), "-q"], None, &[], HANG);
    let digest = pushed_digest(&run.ok(), &registry.reference("trailed"));
    assert_eq!(digest, image.manifest_digest, "the archive's image was pushed byte for byte");
    let pushed = http::get(
        &format!("{}/v2/trailed/manifests/1", registry.url()),
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
    )
    .expect("GET the pushed manifest");
    assert_eq!(pushed.status, 200);
    assert!(pushed.body == image.manifest, "the registry serves the manifest that was loaded");
    assert!(took < HANG, "{took:?}");
}

/// Starts `layerize save REF -o OUT` in the background (its output discarded).
fn start_save(reference: &str, out: &Path) -> Child {
    Command::new(layerize_tests::layerize())
        .args(["save", reference, "-o", &path(out), "-q"])
        .env_remove("LAYERIZE_TIMEOUT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn layerize save")
}

/// Waits until `ready` holds, for at most `HANG`.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG;
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not happen within {} s", HANG.as_secs());
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `child` is stalled in the layer download (the server has had more than
/// `gets_before` requests for the layer) with its own temp file in `dir`; returns that file's
/// name.
fn wait_stalled(child: &mut Child, hostile: &Hostile, image: &StoredImage, dir: &Path, gets_before: usize) -> String {
    let own = format!(".layerize-{}-", child.id());
    wait_for("the save's temp file and layer download", || {
        assert!(child.try_wait().expect("wait").is_none(), "the save ended before it stalled");
        temp_files(dir).iter().any(|n| n.starts_with(&own))
            && hostile.seen().iter().filter(|s| s.path().ends_with(&image.layer_digest)).count() > gets_before
    });
    temp_files(dir).into_iter().find(|n| n.starts_with(&own)).expect("the save's temp file")
}

/// Defect class 6: `save` killed with SIGKILL mid-download leaves its temp file (named for its
/// PID); the next run with an output in that dir removes it, and leaves a live run's temp file
/// alone.
#[test]
fn hostile_sigkill_leftovers_are_swept_by_the_next_run() {
    let hostile = Hostile::start(Auth::None);
    let image = hostile.add_image("base", "1", LAYER_SIZE);
    hostile.add_rule(Rule::new(
        "GET",
        &format!("/blobs/{}", image.layer_digest),
        Action::StallMidBody { after: LAYER_SIZE / 2 },
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let sources = tempfile::tempdir().expect("temp dir");
    let file = small_file(sources.path());
    let layer = dir.path().join("l.tgz");
    let make_layer = || {
        let (run, _) = cli(&["layer", "-f", &format!("{file}:/x"), "-o", &path(&layer)], None, &[], HANG);
        run.ok();
    };

    let mut killed = start_save(&hostile.reference("base:1"), &dir.path().join("out.tar"));
    let left = wait_stalled(&mut killed, &hostile, &image, dir.path(), 0);
    killed.kill().expect("SIGKILL the save");
    killed.wait().expect("reap the save");
    assert_eq!(temp_files(dir.path()), [left], "SIGKILL leaves the temp file (else this test tests nothing)");
    make_layer();
    assert_eq!(listing(dir.path()), ["l.tgz"], "the next run swept the dead run's temp file");

    // A live run's file stays; once it is killed, the next run sweeps it too.
    let mut live = start_save(&hostile.reference("base:1"), &dir.path().join("live.tar"));
    let live_file = wait_stalled(&mut live, &hostile, &image, dir.path(), 1);
    make_layer();
    assert_eq!(temp_files(dir.path()), [live_file], "a live run's temp file is not swept");
    live.kill().expect("SIGKILL the live save");
    live.wait().expect("reap the live save");
    make_layer();
    assert_eq!(listing(dir.path()), ["l.tgz"]);
}

/// Defect class 7: An archive with `manifest.json` and `./manifest.json`: refused, naming both,
/// nothing pushed.
#[test]
fn hostile_archive_with_two_manifest_jsons_is_refused() {
    let hostile = Hostile::start(Auth::None);
    hostile.add_image("base", "1", 4 << 10);
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.tar");
    let (run, _) = cli(&["save", &hostile.reference("base:1"), "-o", &path(&good), "-q"], None, &[], HANG);
    run.ok();
    let dup = dir.path().join("dup.tar");
    let mut tar = fs::read(&good).expect("read");
    // Drop the end-of-archive blocks, add `./manifest.json`, end the archive again.
    let manifest = member_data(&tar, "manifest.json");
    let end = tar_end(&tar);
    tar.truncate(end);
    // The name is written raw: the tar crate's own path setters would drop the `./`.
    let mut extra = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..b"./manifest.json".len()].copy_from_slice(b"./manifest.json");
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    extra.append(&header, &manifest[..]).expect("append");
    tar.extend_from_slice(&extra.into_inner().expect("tar"));
    fs::write(&dup, &tar).expect("write");

    let (run, _) = cli(&["load", &path(&dup), "-t", &hostile.reference("dup:1")], None, &[], HANG);
    let e = run.fails();
    assert!(e.contains(&path(&dup)) && e.contains("\"manifest.json\"") && e.contains("\"./manifest.json\""), "{e}");
    assert!(hostile.tags("dup").is_empty());
    assert!(!hostile.seen().iter().any(|s| s.path().starts_with("/v2/dup/")), "{}", describe(&hostile.seen()));
}

/// The data of a member of an uncompressed tar.
fn member_data(tar: &[u8], name: &str) -> Vec<u8> {
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        if entry.path().expect("path").to_string_lossy().trim_start_matches("./") == name {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("read");
            return data;
        }
    }
    panic!("no member {name}");
}

/// Where a tar's end-of-archive blocks start.
fn tar_end(tar: &[u8]) -> usize {
    let mut archive = tar::Archive::new(tar);
    let mut end = 0;
    for entry in archive.entries().expect("entries") {
        let entry = entry.expect("entry");
        end = (entry.raw_file_position() + entry.size()).div_ceil(512) as usize * 512;
    }
    end
}

/// Defect class 7: A Bearer challenge whose realm is not HTTP(S) (`file://`, `ftp://`): no
/// credentials are sent anywhere, and the error names the registry.
#[test]
fn hostile_non_http_token_realms_are_refused() {
    let tripwire = Hostile::tripwire();
    for realm in ["file:///etc/passwd".to_owned(), format!("ftp://{}/token", tripwire.host())] {
        let hostile = Hostile::start(Auth::Bearer { realm: realm.clone(), token: TOKEN.into() });
        hostile.add_image("base", "1", 4 << 10);
        for stdin in [Some(PASSWORD), None] {
            let mut args = vec!["inspect".to_owned(), hostile.reference("base:1")];
            if stdin.is_some() {
                args.extend(["--username".to_owned(), USER.to_owned(), "--password-stdin".to_owned()]);
            }
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let (run, _) = cli(&argv, stdin, &[], HANG);
            assert_quiet_about_secrets(&run);
            let e = run.fails();
            assert!(e.contains(&hostile.host()) && e.contains("realm"), "{realm}: {e}");
        }
        hostile.assert_never_saw(&[PASSWORD, &STANDARD.encode(format!("{USER}:{PASSWORD}"))]);
    }
    assert_eq!(tripwire.connections(), 0, "the ftp:// realm's host was connected to");
}
