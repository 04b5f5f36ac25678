# What the benchmarks that compare registry transfers share (sourced, not run): the release
# binary (or LAYERIZE=…), a temp dir removed at exit, private `docker-registry`s on free
# loopback ports stopped by their PIDs, timing with GNU time, and the two images both compare
# on: `one`, a 300 MiB one-layer image, and `ten`, ten ~30 MiB layers (half random bytes in
# 1 MiB files, half text), pushed once to the registry `source` (its address in $SOURCE, the
# references in IMAGE[one] and IMAGE[ten]).
#
# Set before sourcing: NEEDS (tools needed besides docker-registry, skopeo, curl, python3 and
# GNU time).
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
# LAYERIZE=/path/to/layerize runs that binary instead of building one.
BUILD=${LAYERIZE:+no}
LAYERIZE=${LAYERIZE:-$TARGET_DIR/release/layerize}
WORK=$(mktemp -d /tmp/layerize-bench-XXXXXX)
# PIDs of the registries this script started, by name; a name is dropped once it is stopped,
# so no PID is signalled after it may have been reused.
declare -A REGISTRY_PIDS=()

cleanup() {
    for name in "${!REGISTRY_PIDS[@]}"; do stop_registry "$name"; done
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in docker-registry skopeo curl python3 /usr/bin/time $NEEDS; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done

if [ "$BUILD" != no ]; then
    echo "building layerize (release)" >&2
    (cd "$ROOT" && cargo build --release -j2 -p layerize --quiet)
fi

# start_registry NAME: starts an empty registry with its own data dir; sets ADDR (host:port).
start_registry() {
    local name=$1 port dir
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    dir=$WORK/registry-$name
    rm -rf "$dir"
    mkdir -p "$dir"
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
    REGISTRY_PIDS[$name]=$!
    for _ in $(seq 1 200); do
        curl -fs -o /dev/null "http://127.0.0.1:$port/v2/" && { ADDR=127.0.0.1:$port; return 0; }
        sleep 0.05
    done
    echo "registry $name did not start; log:" >&2
    cat "$dir/log" >&2
    exit 1
}

stop_registry() {
    local name=$1 pid=${REGISTRY_PIDS[$1]:-}
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        unset "REGISTRY_PIDS[$name]"
        rm -rf "$WORK/registry-$name"
    fi
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

# make_data DIR MIB: MIB of files under DIR, half random bytes in 1 MiB files, half text.
make_data() {
    local dir=$1 mib=$2 half=$(($2 / 2))
    mkdir -p "$dir/random" "$dir/text"
    head -c $((half << 20)) /dev/urandom | split -b 1M -d -a 4 - "$dir/random/r"
    # seq stops on SIGPIPE when head has enough, which pipefail would count as a failure.
    { seq -f '%g the quick brown fox jumps over the lazy dog, line after line of plain text' 1 100000000 || true; } \
        | head -c $(((mib - half) << 20)) | split -b 1M -d -a 4 - "$dir/text/t"
}

start_registry source
SOURCE=$ADDR
echo "making the images on $SOURCE" >&2
make_data "$WORK/data" 300
"$LAYERIZE" append scratch -f "$WORK/data:/data" -t "$SOURCE/one:1" -q >/dev/null
rm -rf "$WORK/data"
base=scratch
for i in $(seq 1 10); do
    make_data "$WORK/data" 30
    "$LAYERIZE" append "$base" -f "$WORK/data:/l$i" -t "$SOURCE/ten:$i" -q >/dev/null
    rm -rf "$WORK/data"
    base=$SOURCE/ten:$i
done
declare -A IMAGE=([one]=$SOURCE/one:1 [ten]=$SOURCE/ten:10)

ACCEPT='application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json'
# describe REF: the manifest's media type line, then the config and layer digests, one a line.
describe() {
    local ref=$1 repo=${1#*/}
    repo=${repo%:*}
    curl -fsS -H "Accept: $ACCEPT" "http://${ref%%/*}/v2/$repo/manifests/${ref##*:}" \
        | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["mediaType"]); print(m["config"]["digest"]); [print(l["digest"]) for l in m["layers"]]'
}

# manifest_digest REF: the Docker-Content-Digest the registry gives for REF.
manifest_digest() {
    local ref=$1 repo=${1#*/}
    repo=${repo%:*}
    curl -fsSI -H "Accept: $ACCEPT" "http://${ref%%/*}/v2/$repo/manifests/${ref##*:}" \
        | tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" { print $2 }'
}
