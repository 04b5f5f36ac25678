#!/usr/bin/env bash
# Benchmark: listing one big layer straight from a registry.
#
#   layerize ls REF --layer 2
# against what a person would otherwise do:
#   skopeo copy docker://REF oci:DIR  &&  tar -tzf DIR/blobs/sha256/<layer 2>
#
# It starts its own registry (`docker-registry serve`) on a free 127.0.0.1 port, makes a small
# busybox base with umoci, pushes it with skopeo, generates a tree of many files of random
# (incompressible) bytes and appends it with `layerize append`, so layer 2 is one ~SIZE_MIB
# layer. Each side runs RUNS times; the table shows the median time to the first line and to
# the full listing, and the number of lines (both must list the same entries).
#
# Run by hand from the workspace root, after `cargo build --release -p layerize`:
#   crates/cli/benches/ls.sh
# Knobs (environment): LAYERIZE (default target/release/layerize), SIZE_MIB (300),
# FILES (20000), RUNS (3), KEEP=1 keeps the work dir.
# Needs: docker-registry, skopeo, umoci, busybox (static), tar, gzip, python3.

set -euo pipefail

LAYERIZE=${LAYERIZE:-target/release/layerize}
SIZE_MIB=${SIZE_MIB:-300}
FILES=${FILES:-20000}
RUNS=${RUNS:-3}

for tool in docker-registry skopeo umoci busybox tar python3; do
    command -v "$tool" >/dev/null || { echo "ls.sh: $tool is not installed" >&2; exit 1; }
done
[ -x "$LAYERIZE" ] || { echo "ls.sh: $LAYERIZE not found; run cargo build --release -p layerize" >&2; exit 1; }
LAYERIZE=$(realpath "$LAYERIZE")

WORK=$(mktemp -d /tmp/layerize-bench-ls-XXXXXX)
REGISTRY_PID=
cleanup() {
    if [ -n "$REGISTRY_PID" ]; then kill "$REGISTRY_PID" 2>/dev/null || true; wait "$REGISTRY_PID" 2>/dev/null || true; fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# --- registry ------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: 127.0.0.1:$PORT
  secret: layerize-bench
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/v2/')" 2>/dev/null && break
    sleep 0.1
done
HOST=127.0.0.1:$PORT
echo "registry $HOST (pid $REGISTRY_PID), work dir $WORK" >&2

# --- base image (busybox, one layer) -------------------------------------------------------
umoci init --layout "$WORK/base"
umoci new --image "$WORK/base:base"
umoci unpack --image "$WORK/base:base" "$WORK/bundle" >/dev/null
mkdir -p "$WORK/bundle/rootfs/bin"
cp "$(command -v busybox)" "$WORK/bundle/rootfs/bin/busybox"
ln -s busybox "$WORK/bundle/rootfs/bin/sh"
umoci repack --image "$WORK/base:base" "$WORK/bundle"
umoci config --image "$WORK/base:base" --os linux --architecture amd64 --config.cmd /bin/sh
skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$WORK/base:base" "docker://$HOST/bench-base:1"

# --- the big layer -------------------------------------------------------------------------
python3 - "$WORK/tree" "$SIZE_MIB" "$FILES" <<'EOF'
import os, random, sys
root, size_mib, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(42)
total = size_mib << 20
sizes = [random.randint(1, 2 * total // files) for _ in range(files)]
scale = total / sum(sizes)
for i, size in enumerate(sizes):
    d = os.path.join(root, f"d{i // 1000:03}", f"s{(i // 50) % 20:02}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"file-{i:06}.bin"), "wb") as f:
        f.write(os.urandom(max(1, int(size * scale))))
EOF
REF=$("$LAYERIZE" append "$HOST/bench-base:1" -f "$WORK/tree:/data" -t "$HOST/bench:1" -q --created 2024-01-01T00:00:00Z)
MANIFEST=$(skopeo inspect --raw --tls-verify=false "docker://$REF")
LAYER=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["layers"][1]["digest"])' "$MANIFEST")
LAYER_SIZE=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["layers"][1]["size"])' "$MANIFEST")
echo "image $REF, layer 2 $LAYER ($LAYER_SIZE bytes)" >&2

# --- measuring -----------------------------------------------------------------------------
now() { date +%s%N; }

# Runs "$@" (a command writing a listing to stdout) and prints "first total lines" in seconds.
measure() {
    local start first
    start=$(now)
    "$@" | { IFS= read -r _ && now >"$WORK/first"; wc -l >"$WORK/count"; }
    local end
    end=$(now)
    first=$(cat "$WORK/first")
    python3 -c 'import sys; s,f,e,n=map(int,sys.argv[1:]); print(f"{(f-s)/1e9:.3f} {(e-s)/1e9:.3f} {n+1}")' \
        "$start" "$first" "$end" "$(cat "$WORK/count")"
}

layerize_ls() { "$LAYERIZE" ls "$REF" --layer 2; }
skopeo_tar() {
    rm -rf "$WORK/oci"
    skopeo --insecure-policy copy --quiet --src-tls-verify=false "docker://$REF" "oci:$WORK/oci:bench"
    tar -tzf "$WORK/oci/blobs/sha256/${LAYER#sha256:}"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A FIRST TOTAL LINES
for name in layerize_ls skopeo_tar; do
    for run in $(seq "$RUNS"); do
        read -r first total lines < <(measure "$name")
        echo "$name run $run: first line ${first}s, full listing ${total}s, $lines lines" >&2
        FIRST[$name]+="$first "
        TOTAL[$name]+="$total "
        LINES[$name]=$lines
    done
done

echo
echo "Listing layer 2 ($((LAYER_SIZE / 1048576)) MiB gzip, $FILES files) of $REF; median of $RUNS runs, seconds"
echo
echo "| command | first line | full listing | lines |"
echo "| --- | ---: | ---: | ---: |"
for name in layerize_ls skopeo_tar; do
    case $name in
        layerize_ls) label='`layerize ls REF --layer 2`' ;;
        skopeo_tar) label='`skopeo copy docker://REF oci:DIR` + `tar -tzf` layer 2' ;;
    esac
    f=$(tr ' ' '\n' <<<"${FIRST[$name]}" | grep . | median)
    t=$(tr ' ' '\n' <<<"${TOTAL[$name]}" | grep . | median)
    echo "| $label | $f | $t | ${LINES[$name]} |"
done
