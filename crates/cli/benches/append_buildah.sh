#!/usr/bin/env bash
# Benchmarks `layerize append` + push against buildah from/copy/commit/push, on loopback only.
#
#   crates/cli/benches/append_buildah.sh [SIZE_MIB] [BASE_MIB] [RUNS]   (defaults: 100, 50, 5)
#
# Builds the release binary, makes a base image of BASE_MIB (static busybox plus BASE_MIB of
# random bytes, as a tar loaded with `layerize load`) and a SIZE_MIB directory (half random
# bytes in 1 MiB files, half text), then times, RUNS times interleaved, each into a fresh
# `docker-registry` that holds only the base (so no tool finds the new layer already there),
# with `/usr/bin/time -f '%e %U %S %M'`:
#   layerize append BASE -f DIR:/data -t TARGET                  (gzip profile 2, the default)
#   layerize append BASE -f DIR:/data -t TARGET --gzip-profile 1 (every block deflated)
#   buildah from BASE; buildah copy; buildah commit; buildah push  (from empty storage: a new
#                                                                   --root per run)
# and prints a Markdown table of medians and min–max. Needs docker-registry, buildah,
# busybox-static, curl and python3. Everything it makes is under one temp dir, removed at the
# end; the registries it started are stopped by their PIDs.
set -euo pipefail

SIZE_MIB=${1:-100}
BASE_MIB=${2:-50}
RUNS=${3:-5}
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
    # buildah's overlay storage leaves mounts under its root; unmount before removing.
    for root in "$WORK"/buildah-*; do
        [ -d "$root" ] && buildah --root "$root/root" --runroot "$root/run" rm --all >/dev/null 2>&1 || true
        [ -d "$root" ] && umount -R "$root/root/overlay" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in docker-registry buildah busybox curl python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done

echo "building layerize (release)" >&2
(cd "$ROOT" && cargo build --release -j2 -p layerize --quiet)

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
        rm -rf "$WORK"/registry-*
    fi
}

# A fresh registry holding only the base, as $REGISTRY/base:1.
registry_with_base() {
    start_registry
    "$LAYERIZE" load "$WORK/base.tar" -t "$REGISTRY/base:1" -q >/dev/null
}

# measure NAME COMMAND...: appends "NAME wall user sys kib" to $WORK/results.
measure() {
    local name=$1
    shift
    if ! /usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err"; then
        echo "$name failed:" >&2
        cat "$WORK/err" >&2
        exit 1
    fi
    echo "$name $(cat "$WORK/time")" >>"$WORK/results"
    echo "  $name: $(cat "$WORK/time") (wall s, user s, sys s, KiB)" >&2
}

echo "making the ${BASE_MIB} MiB base and the ${SIZE_MIB} MiB directory" >&2
mkdir -p "$WORK/base/rootfs/bin" "$WORK/base/rootfs/opt/base" "$WORK/base/archive/layer"
cp "$(command -v busybox)" "$WORK/base/rootfs/bin/busybox"
ln -s busybox "$WORK/base/rootfs/bin/sh"
head -c $((BASE_MIB << 20)) /dev/urandom | split -b 4M -d -a 3 - "$WORK/base/rootfs/opt/base/b"
tar -C "$WORK/base/rootfs" --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -cf "$WORK/base/archive/layer/layer.tar" .
diff_id=$(sha256sum "$WORK/base/archive/layer/layer.tar" | cut -d' ' -f1)
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"bench base"}]}' \
    "$diff_id" >"$WORK/base/config.json"
config=$(sha256sum "$WORK/base/config.json" | cut -d' ' -f1)
mv "$WORK/base/config.json" "$WORK/base/archive/$config.json"
printf '[{"Config":"%s.json","RepoTags":["base:1"],"Layers":["layer/layer.tar"]}]' "$config" >"$WORK/base/archive/manifest.json"
tar -C "$WORK/base/archive" -cf "$WORK/base.tar" .
rm -rf "$WORK/base"

half=$((SIZE_MIB / 2))
mkdir -p "$WORK/data/random" "$WORK/data/text"
head -c $((half << 20)) /dev/urandom | split -b 1M -d -a 4 - "$WORK/data/random/r"
# seq stops on SIGPIPE when head has enough, which pipefail would count as a failure.
{ seq -f '%g the quick brown fox jumps over the lazy dog, line after line of plain text' 1 100000000 || true; } \
    | head -c $(((SIZE_MIB - half) << 20)) | split -b 1M -d -a 4 - "$WORK/data/text/t"
cat "$WORK/data"/*/* >/dev/null # page cache warm for every tool

buildah_run() {
    local root=$1 ctr
    local b=(buildah --root "$root/root" --runroot "$root/run" --storage-driver overlay)
    ctr=$("${b[@]}" from --quiet --tls-verify=false "docker://$REGISTRY/base:1")
    "${b[@]}" copy --quiet "$ctr" "$WORK/data" /data >/dev/null
    "${b[@]}" commit --quiet "$ctr" "bench-app:1" >/dev/null
    "${b[@]}" push --quiet --tls-verify=false "bench-app:1" "docker://$REGISTRY/app:1"
}
export -f buildah_run
export REGISTRY WORK

echo "$RUNS runs, interleaved, each into a fresh registry holding only the base" >&2
for run in $(seq 1 "$RUNS"); do
    registry_with_base
    measure "layerize" "$LAYERIZE" append "$REGISTRY/base:1" -f "$WORK/data:/data" -t "$REGISTRY/app:1" -q
    stop_registry
    registry_with_base
    measure "layerize-profile-1" "$LAYERIZE" append "$REGISTRY/base:1" -f "$WORK/data:/data" \
        -t "$REGISTRY/app:1" -q --gzip-profile 1
    stop_registry
    registry_with_base
    mkdir -p "$WORK/buildah-$run"
    REGISTRY=$REGISTRY measure "buildah" bash -c "buildah_run $WORK/buildah-$run"
    buildah --root "$WORK/buildah-$run/root" --runroot "$WORK/buildah-$run/run" rm --all >/dev/null 2>&1 || true
    stop_registry
done

python3 - "$WORK/results" "$SIZE_MIB" "$BASE_MIB" "$RUNS" <<'EOF'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    name, wall, user, sys_, kib = line.split()
    rows[name].append((float(wall), float(user) + float(sys_), int(kib)))
labels = {
    "layerize": "`layerize append` (gzip profile 2, default)",
    "layerize-profile-1": "`layerize append --gzip-profile 1`",
    "buildah": "`buildah from` + `copy` + `commit` + `push`, empty storage",
}
print(f"{sys.argv[2]} MiB directory (half random, half text) onto a {sys.argv[3]} MiB base, pushed to a loopback registry;")
print(f"median of {sys.argv[4]} interleaved runs (min–max)")
print()
print("| tool | wall (s) | CPU (s) | max RSS (MiB) | wall vs buildah |")
print("| --- | ---: | ---: | ---: | ---: |")
buildah = statistics.median(w for w, _, _ in rows["buildah"])
for name, label in labels.items():
    runs = rows[name]
    walls = [w for w, _, _ in runs]
    cpu = [c for _, c, _ in runs]
    wall = statistics.median(walls)
    print(f"| {label} | {wall:.2f} ({min(walls):.2f}–{max(walls):.2f}) | {statistics.median(cpu):.2f} "
          f"({min(cpu):.2f}–{max(cpu):.2f}) | {statistics.median(k for _, _, k in runs) / 1024:.1f} | {wall / buildah:.2f}× |")
EOF
