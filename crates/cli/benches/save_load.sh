#!/usr/bin/env bash
# Benchmarks `layerize save` and `layerize load` against `skopeo copy`, on loopback only.
#
#   crates/cli/benches/save_load.sh [SIZE_MIB] [RUNS]     (defaults: 300, 3)
#
# Builds the release binary, starts a private `docker-registry` on a free port, makes a base
# image (static busybox, as the test fixtures have it, loaded with `layerize load`), appends
# SIZE_MIB of files to it with `layerize append` (half random bytes, half text), then times,
# RUNS times interleaved, with `/usr/bin/time -f '%e %M'`:
#   registry → tar:  layerize save            vs  skopeo copy docker://… docker-archive:…
#   tar → registry:  layerize load            vs  skopeo copy docker-archive:… docker://…
#                    (for the tar each tool wrote; each load goes to a fresh, empty registry)
# and prints the medians as a Markdown table. Needs docker-registry, skopeo, busybox-static,
# GNU tar, curl and python3 (for a free port). Everything it makes is under one temp dir,
# removed at the end; the registries it started are stopped by their PIDs.
set -euo pipefail

SIZE_MIB=${1:-300}
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
LAYERIZE=$TARGET_DIR/release/layerize
WORK=$(mktemp -d /tmp/layerize-bench-XXXXXX)
# The one registry running at a time; empty once it is stopped, so no PID is signalled
# after it may have been reused.
REGISTRY_PID=

cleanup() {
    stop_registry
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in docker-registry skopeo busybox curl python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done

echo "building layerize (release)" >&2
(cd "$ROOT" && cargo build --release -j1 -p layerize --quiet)

# Starts an empty registry; sets REGISTRY (host:port) and REGISTRY_PID.
start_registry() {
    local port dir
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    dir=$(mktemp -d "$WORK/registry-XXXXXX")
    cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$port
  secret: layerize-bench
EOF
    env -u REGISTRY_HTTP_ADDR docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    REGISTRY_PID=$!
    REGISTRY=127.0.0.1:$port
    for _ in $(seq 1 200); do
        curl -fs -o /dev/null "http://$REGISTRY/v2/" && return 0
        sleep 0.05
    done
    echo "registry did not start; log:" >&2
    cat "$dir/log" >&2
    exit 1
}

stop_registry() {
    if [ -n "$REGISTRY_PID" ]; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
        REGISTRY_PID=
    fi
}

# measure NAME COMMAND...: appends "NAME seconds kib" to $WORK/results.
measure() {
    local name=$1
    shift
    if ! /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err"; then
        echo "$name failed:" >&2
        cat "$WORK/err" >&2
        exit 1
    fi
    echo "$name $(cat "$WORK/time")" >>"$WORK/results"
    echo "  $name: $(cat "$WORK/time") (s, KiB)" >&2
}

start_registry
SOURCE=$REGISTRY

echo "making the base image (static busybox) and a ${SIZE_MIB} MiB image on $SOURCE" >&2
mkdir -p "$WORK/base/rootfs/bin" "$WORK/base/archive/layer"
cp "$(command -v busybox)" "$WORK/base/rootfs/bin/busybox"
ln -s busybox "$WORK/base/rootfs/bin/sh"
ln -s busybox "$WORK/base/rootfs/bin/cat"
tar -C "$WORK/base/rootfs" --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -cf "$WORK/base/archive/layer/layer.tar" .
diff_id=$(sha256sum "$WORK/base/archive/layer/layer.tar" | cut -d' ' -f1)
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"bench base"}]}' \
    "$diff_id" >"$WORK/base/config.json"
config=$(sha256sum "$WORK/base/config.json" | cut -d' ' -f1)
mv "$WORK/base/config.json" "$WORK/base/archive/$config.json"
printf '[{"Config":"%s.json","RepoTags":["%s/base:1"],"Layers":["layer/layer.tar"]}]' "$config" "$SOURCE" >"$WORK/base/archive/manifest.json"
tar -C "$WORK/base/archive" -cf "$WORK/base.tar" .
"$LAYERIZE" load "$WORK/base.tar" -q >/dev/null

half=$((SIZE_MIB / 2))
mkdir -p "$WORK/data/random" "$WORK/data/text"
head -c $((half << 20)) /dev/urandom | split -b 1M -d -a 4 - "$WORK/data/random/r"
# seq stops on SIGPIPE when head has enough, which pipefail would count as a failure.
{ seq -f '%g the quick brown fox jumps over the lazy dog, line after line of plain text' 1 100000000 || true; } \
    | head -c $(((SIZE_MIB - half) << 20)) | split -b 1M -d -a 4 - "$WORK/data/text/t"
"$LAYERIZE" append "$SOURCE/base:1" -f "$WORK/data:/data" -t "$SOURCE/big:1" -q >/dev/null
rm -rf "$WORK/data"
IMAGE=$SOURCE/big:1

echo "registry → tar, $RUNS runs" >&2
for run in $(seq 1 "$RUNS"); do
    rm -f "$WORK/layerize.tar" "$WORK/skopeo.tar"
    measure save:layerize "$LAYERIZE" save "$IMAGE" -o "$WORK/layerize.tar" -q
    measure save:skopeo skopeo --insecure-policy copy --quiet --src-tls-verify=false \
        "docker://$IMAGE" "docker-archive:$WORK/skopeo.tar:$IMAGE"
done
ls -l "$WORK/layerize.tar" "$WORK/skopeo.tar" >&2
stop_registry

echo "tar → registry, $RUNS runs per tar, each into an empty registry" >&2
for run in $(seq 1 "$RUNS"); do
    for tar in layerize skopeo; do
        start_registry
        measure "load-$tar-tar:layerize" "$LAYERIZE" load "$WORK/$tar.tar" -t "$REGISTRY/big:1" -q
        stop_registry
        start_registry
        measure "load-$tar-tar:skopeo" skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
            "docker-archive:$WORK/$tar.tar" "docker://$REGISTRY/big:1"
        stop_registry
    done
done

python3 - "$WORK/results" "$SIZE_MIB" "$RUNS" <<'EOF'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    name, secs, kib = line.split()
    rows[name].append((float(secs), int(kib)))
labels = {
    "save": "registry → tar",
    "load-layerize-tar": "tar (layerize save: gzip layers) → registry",
    "load-skopeo-tar": "tar (skopeo docker-archive: plain layers) → registry",
}
print(f"{sys.argv[2]} MiB image, median of {sys.argv[3]} runs, loopback registry")
print()
print("| operation | tool | wall (s) | max RSS (MiB) | wall vs skopeo |")
print("| --- | --- | ---: | ---: | ---: |")
for op, label in labels.items():
    skopeo = statistics.median(s for s, _ in rows[f"{op}:skopeo"])
    for tool in ("layerize", "skopeo"):
        runs = rows[f"{op}:{tool}"]
        wall = statistics.median(s for s, _ in runs)
        rss = statistics.median(k for _, k in runs) / 1024
        print(f"| {label} | {tool} | {wall:.2f} | {rss:.1f} | {wall / skopeo:.2f}× |")
EOF
