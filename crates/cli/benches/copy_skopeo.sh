#!/usr/bin/env bash
# Benchmarks `layerize copy` registry → registry against `skopeo copy` and a plain `curl` of the
# same blobs (the floor), on loopback only.
#
#   crates/cli/benches/copy_skopeo.sh [RUNS]     (default: 3)
#   LAYERIZE=/path/to/layerize crates/cli/benches/copy_skopeo.sh 3   (that binary, no build)
#
# Builds the release binary, starts a private `docker-registry` on a free port (the source), and
# pushes two images to it once, made with `layerize append`:
#   one  a 300 MiB one-layer image (half random bytes in 1 MiB files, half text), from scratch
#   ten  a 10-layer image of ~30 MiB layers (the same mix), ten appends, each on the last
# Then, RUNS times, tools alternating run by run (the order rotates), each run into a fresh, empty
# second registry (its own port and data dir), times with `/usr/bin/time -f '%e %U %S %M'`:
#   layerize copy SRC DST
#   skopeo copy docker://SRC docker://DST
#   curl (the floor): for every blob at once, a POST for an upload, then the blob's GET piped
#        into one monolithic PUT ?digest= (no PATCH); then the manifest PUT
# checks that the target's manifest digest is the source's, and prints a Markdown table of
# medians and min–max (wall, CPU = user + sys, max RSS), with the ratio to skopeo and to the
# floor. Needs docker-registry, skopeo, curl, python3 and GNU time. Everything it makes is under
# one temp dir, removed at the end; the registries it started are stopped by their PIDs.
set -euo pipefail

RUNS=${1:-3}
NEEDS=
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

# curl_blob SRC_REGISTRY SRC_REPO DIGEST DST_REGISTRY DST_REPO: one monolithic upload (POST,
# then one PUT ?digest= with the body), the GET streamed into the PUT.
curl_blob() {
    local loc sep
    loc=$(curl -fsS -X POST -D - -o /dev/null "http://$4/v2/$5/blobs/uploads/" \
        | tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
    case $loc in http*) ;; *) loc=http://$4$loc ;; esac
    sep='?'
    case $loc in *\?*) sep='&' ;; esac
    curl -fsS "http://$1/v2/$2/blobs/$3" \
        | curl -fsS -o /dev/null -T - -H 'Content-Type: application/octet-stream' "$loc${sep}digest=$3"
}

# curl_copy SRC_REF DST_REF LIST: every blob of LIST at once, then the manifest.
curl_copy() {
    local src=${1%%/*} srepo=${1#*/} dst=${2%%/*} drepo=${2#*/} pids=() type
    srepo=${srepo%:*}
    drepo=${drepo%:*}
    while read -r digest; do
        curl_blob "$src" "$srepo" "$digest" "$dst" "$drepo" &
        pids+=($!)
    done < <(tail -n +2 "$3")
    for pid in "${pids[@]}"; do wait "$pid"; done
    type=$(head -1 "$3")
    curl -fsS -H "Accept: $type" "http://$src/v2/$srepo/manifests/${1##*:}" \
        | curl -fsS -o /dev/null -X PUT -H "Content-Type: $type" --data-binary @- "http://$dst/v2/$drepo/manifests/${2##*:}"
}
export -f curl_blob curl_copy

for img in one ten; do
    describe "${IMAGE[$img]}" >"$WORK/blobs-$img"
    echo "$img: $(head -1 "$WORK/blobs-$img"), $(($(wc -l <"$WORK/blobs-$img") - 2)) layers" >&2
done

# run_tool IMG TOOL: one measured copy into a fresh registry; checks the manifest digest.
run_tool() {
    local img=$1 tool=$2 ref=${IMAGE[$1]} target want got
    start_registry target
    target=$ADDR
    case $tool in
    layerize) measure "$img/$tool" "$LAYERIZE" copy "$ref" "$target/copy:1" -q ;;
    skopeo) measure "$img/$tool" skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$ref" "docker://$target/copy:1" ;;
    curl) measure "$img/$tool" bash -c "curl_copy '$ref' '$target/copy:1' '$WORK/blobs-$img'" ;;
    esac
    want=$(manifest_digest "$ref")
    got=$(manifest_digest "$target/copy:1")
    [ "$want" = "$got" ] || { echo "$img/$tool: manifest digest $got, the source has $want" >&2; exit 1; }
    stop_registry target
}

# The "two connection cuts during a 300 MiB copy" rows are measured by the e2e benchmark
# `bench_copy_with_cuts` (tests/e2e/resume.rs), which puts the harness's cutting relay between
# each tool and each registry: `cargo test -p layerize-tests --test e2e -- --ignored
# bench_copy_with_cuts --nocapture`.

TOOLS=(skopeo layerize curl)
uptime >&2
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >"$WORK/load"
for run in $(seq 1 "$RUNS"); do
    echo "run $run of $RUNS" >&2
    for img in one ten; do
        # rotate the order run by run, so no tool always goes first
        for k in 0 1 2; do
            run_tool "$img" "${TOOLS[$(((k + run) % 3))]}"
        done
    done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/load"
uptime >&2

python3 - "$WORK/results" "$RUNS" "$WORK/load" <<'EOF'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    name, wall, user, sys_, kib = line.split()
    rows[name].append((float(wall), float(user) + float(sys_), int(kib)))
images = {"one": "300 MiB, 1 layer", "ten": "10 × 30 MiB layers"}
tools = {
    "layerize": "`layerize copy SRC DST`",
    "skopeo": "`skopeo copy docker://SRC docker://DST`",
    "curl": "`curl`: every blob at once, GET piped into a monolithic PUT; then the manifest (floor)",
}
def fmt(xs, f):
    return f"{f(statistics.median(xs))} ({f(min(xs))}–{f(max(xs))})"
def med(name):
    return statistics.median(w for w, _, _ in rows[name])
print(f"median of {sys.argv[2]} runs, tools alternating (min–max); " + "; ".join(l.strip() for l in open(sys.argv[3])))
print()
print("| image | tool | wall (s) | CPU (s) | max RSS (MiB) | wall vs skopeo | wall vs floor |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
for img, img_label in images.items():
    for tool, label in tools.items():
        runs = rows[f"{img}/{tool}"]
        wall = med(f"{img}/{tool}")
        b = "**" if tool == "layerize" else ""
        print(f"| {img_label} | {label} | {fmt([w for w, _, _ in runs], lambda x: f'{x:.2f}')} "
              f"| {fmt([c for _, c, _ in runs], lambda x: f'{x:.2f}')} "
              f"| {fmt([k / 1024 for _, _, k in runs], lambda x: f'{x:.1f}')} "
              f"| {b}{wall / med(f'{img}/skopeo'):.2f}×{b} | {b}{wall / med(f'{img}/curl'):.2f}×{b} |")
print()
print("Goals (medians):")
for img, img_label in images.items():
    wall = med(f"{img}/layerize")
    checks = [("vs floor", wall / med(f"{img}/curl"), 1.2)]
    if img == "ten":
        checks.insert(0, ("vs skopeo", wall / med(f"{img}/skopeo"), 0.6))
    for what, ratio, goal in checks:
        print(f"- {img_label}, copy {what}: {ratio:.2f}× (goal ≤ {goal}×): {'met' if ratio <= goal else 'MISSED'}")
    rss = max(k for _, _, k in rows[f"{img}/layerize"]) / 1024
    print(f"- {img_label}, layerize max RSS over all runs: {rss:.1f} MiB (goal < 64): {'met' if rss < 64 else 'MISSED'}")
print("- two connection cuts during the 300 MiB copy: see bench_copy_with_cuts in tests/e2e/resume.rs")
EOF
