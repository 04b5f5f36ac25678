#!/usr/bin/env bash
# Benchmarks the store and unpack commands (`layerize pull`, `unpack`, `push`) against skopeo,
# umoci and a plain `curl` of the same blobs, on loopback only.
#
#   crates/cli/benches/store_skopeo_umoci.sh [RUNS]     (default: 3)
#   LAYERIZE=/path/to/layerize crates/cli/benches/store_skopeo_umoci.sh 3   (that binary, no build)
#   OPS=pull crates/cli/benches/store_skopeo_umoci.sh 5   (only those rows; default: all four)
#
# Builds the release binary, starts a private `docker-registry` on a free port (the source), and
# pushes two images to it once, made with `layerize append`:
#   one  a 300 MiB one-layer image (half random bytes in 1 MiB files, half text), from scratch
#   ten  a 10-layer image of ~30 MiB layers (the same mix), ten appends, each on the last
# Then, RUNS times, tools alternating run by run (the order rotates), times with
# `/usr/bin/time -f '%e %U %S %M'`, for each image:
#   pull    registry → OCI layout:  layerize pull REF --store EMPTY
#                                   skopeo copy docker://REF oci:EMPTY:tag
#                                   curl: the manifest and every blob GET at once (--parallel),
#                                         to files (the floor: no digest check, no fsync)
#   unpack  OCI layout → directory: layerize unpack oci:LAYOUT:tag DIR
#                                   umoci unpack --image LAYOUT:tag BUNDLE
#           (LAYOUT is the one skopeo wrote, read by both)
#   whole   registry → directory:   layerize unpack REF DIR
#                                   skopeo copy docker://REF oci:TMP:tag + umoci unpack
#   push    store → empty registry: layerize push REF TARGET --store STORE
#                                   skopeo copy oci:STORE:REF docker://TARGET
#           (STORE is what `layerize pull` wrote; every run a fresh target registry; the pushed
#           manifest digest must be the source's)
# and prints a Markdown table of medians and min–max (wall, CPU = user + sys, max RSS), with the
# ratio to the peer of each row. Needs docker-registry, skopeo, umoci, curl (7.66+ for
# --parallel), python3 and GNU time. Everything it makes is under one temp dir, removed at the
# end; the registries it started are stopped by their PIDs. Run it as root (umoci unpack keeps
# owners; layerize unpack does the same as root).
set -euo pipefail

RUNS=${1:-3}
NEEDS=umoci
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

# curl_pull REF DIR LIST: GETs the manifest and every blob of REF at once, into files under DIR.
curl_pull() {
    local ref=$1 dir=$2 repo=${1#*/} args=()
    repo=${repo%:*}
    mkdir -p "$dir"
    args+=(-H "Accept: $ACCEPT" -o "$dir/manifest" "http://${ref%%/*}/v2/$repo/manifests/${ref##*:}")
    while read -r digest; do
        args+=(-o "$dir/${digest#sha256:}" "http://${ref%%/*}/v2/$repo/blobs/$digest")
    done < <(tail -n +2 "$3")
    curl -fsS --parallel --parallel-max 64 "${args[@]}"
}
export -f curl_pull
export WORK ACCEPT

for img in one ten; do
    describe "${IMAGE[$img]}" >"$WORK/blobs-$img"
    echo "$img: $(head -1 "$WORK/blobs-$img"), $(($(wc -l <"$WORK/blobs-$img") - 2)) layers" >&2
done

# A store and a skopeo layout per image, kept for the unpack and push rows.
for img in one ten; do
    "$LAYERIZE" pull "${IMAGE[$img]}" --store "$WORK/store-$img" -q >/dev/null
    skopeo copy -q --src-tls-verify=false "docker://${IMAGE[$img]}" "oci:$WORK/layout-$img:tag"
done

fresh() { rm -rf "$WORK/o"; mkdir -p "$WORK/o"; }

# run_tool IMG OP TOOL: one measured run (outputs under $WORK/o, removed after).
run_tool() {
    local img=$1 op=$2 tool=$3 ref=${IMAGE[$1]} target
    fresh
    case $op/$tool in
    pull/layerize) measure "$img/pull/layerize" "$LAYERIZE" pull "$ref" --store "$WORK/o/store" -q ;;
    pull/skopeo) measure "$img/pull/skopeo" skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$WORK/o/layout:tag" ;;
    pull/curl) measure "$img/pull/curl" bash -c "curl_pull '$ref' '$WORK/o/blobs' '$WORK/blobs-$img'" ;;
    unpack/layerize) measure "$img/unpack/layerize" "$LAYERIZE" unpack "oci:$WORK/layout-$img:tag" "$WORK/o/rootfs" -q ;;
    unpack/umoci) measure "$img/unpack/umoci" umoci unpack --image "$WORK/layout-$img:tag" "$WORK/o/bundle" ;;
    whole/layerize) measure "$img/whole/layerize" "$LAYERIZE" unpack "$ref" "$WORK/o/rootfs" -q ;;
    whole/skopeo) measure "$img/whole/skopeo" bash -c "skopeo copy -q --src-tls-verify=false 'docker://$ref' 'oci:$WORK/o/layout:tag' && umoci unpack --image '$WORK/o/layout:tag' '$WORK/o/bundle' >/dev/null" ;;
    push/layerize | push/skopeo)
        start_registry target
        target=$ADDR
        if [ "$tool" = layerize ]; then
            measure "$img/push/layerize" "$LAYERIZE" push "$ref" "$target/copy:1" --store "$WORK/store-$img" -q
        else
            measure "$img/push/skopeo" skopeo copy -q --dest-tls-verify=false "oci:$WORK/store-$img:$ref" "docker://$target/copy:1"
        fi
        [ "$(manifest_digest "$target/copy:1")" = "$(manifest_digest "$ref")" ] \
            || { echo "$img/push/$tool: the pushed manifest's digest is not the source's" >&2; exit 1; }
        stop_registry target
        ;;
    esac
    rm -rf "$WORK/o"
}

# The tools of each operation, the peer (the ratio's denominator) first.
declare -A TOOLS=([pull]="skopeo layerize curl" [unpack]="umoci layerize" [whole]="skopeo layerize" [push]="skopeo layerize")
uptime >&2
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >"$WORK/load"
for run in $(seq 1 "$RUNS"); do
    echo "run $run of $RUNS" >&2
    for img in one ten; do
        for op in ${OPS:-pull unpack whole push}; do
            read -ra tools <<<"${TOOLS[$op]}"
            # rotate the order run by run, so no tool always goes first
            n=${#tools[@]}
            for k in $(seq 0 $((n - 1))); do
                run_tool "$img" "$op" "${tools[$(((k + run) % n))]}"
            done
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
ops = {
    "pull": ("registry → OCI layout", "skopeo", {
        "layerize": "`layerize pull REF --store EMPTY`",
        "skopeo": "`skopeo copy docker://REF oci:EMPTY:tag`",
        "curl": "`curl --parallel` GET of manifest + blobs to files (floor)"}),
    "unpack": ("OCI layout → directory", "umoci", {
        "layerize": "`layerize unpack oci:LAYOUT:tag DIR`",
        "umoci": "`umoci unpack --image LAYOUT:tag DIR`"}),
    "whole": ("registry → directory", "skopeo", {
        "layerize": "`layerize unpack REF DIR`",
        "skopeo": "`skopeo copy docker://REF oci:TMP:tag` + `umoci unpack`"}),
    "push": ("store → empty registry", "skopeo", {
        "layerize": "`layerize push REF TARGET --store STORE`",
        "skopeo": "`skopeo copy oci:STORE:REF docker://TARGET`"}),
}
def fmt(xs, f):
    return f"{f(statistics.median(xs))} ({f(min(xs))}–{f(max(xs))})"
print(f"median of {sys.argv[2]} runs, tools alternating (min–max); " + "; ".join(l.strip() for l in open(sys.argv[3])))
print()
print("| image | job | tool | wall (s) | CPU (s) | max RSS (MiB) | wall vs peer |")
print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
for img, img_label in images.items():
    for op, (op_label, peer, tools) in ops.items():
        if not rows[f"{img}/{op}/{peer}"]:
            continue
        base = statistics.median(w for w, _, _ in rows[f"{img}/{op}/{peer}"])
        for tool in sorted(tools, key=lambda t: (t != "layerize", t != peer)):
            runs = rows[f"{img}/{op}/{tool}"]
            wall = statistics.median(w for w, _, _ in runs)
            ratio = f"**{wall / base:.2f}×**" if tool == "layerize" else f"{wall / base:.2f}×"
            print(f"| {img_label} | {op_label} | {tools[tool]} | {fmt([w for w, _, _ in runs], lambda x: f'{x:.2f}')} "
                  f"| {fmt([c for _, c, _ in runs], lambda x: f'{x:.2f}')} "
                  f"| {fmt([k / 1024 for _, _, k in runs], lambda x: f'{x:.1f}')} | {ratio} |")
def med(name):
    return statistics.median(w for w, _, _ in rows[name]) if rows[name] else None
print()
print("Goals (medians):")
for img, img_label in images.items():
    pull = med(f"{img}/pull/layerize")
    for what, num, den, goal in [
        ("pull vs skopeo", pull, med(f"{img}/pull/skopeo"), 0.6),
        ("pull vs curl", pull, med(f"{img}/pull/curl"), 1.3),
        ("unpack vs umoci", med(f"{img}/unpack/layerize"), med(f"{img}/unpack/umoci"), 0.5),
    ]:
        if num is None or den is None:
            continue
        ratio = num / den
        print(f"- {img_label}, {what}: {ratio:.2f}× (goal ≤ {goal}×): {'met' if ratio <= goal else 'MISSED'}")
    rss = max(k for op in ops for _, _, k in rows[f"{img}/{op}/layerize"]) / 1024
    print(f"- {img_label}, layerize max RSS over all runs: {rss:.1f} MiB (goal < 64): {'met' if rss < 64 else 'MISSED'}")
EOF
