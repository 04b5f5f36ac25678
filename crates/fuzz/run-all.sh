#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds (default 600), one after another, at the lowest
# CPU priority, one job each. With -jobs=1 libFuzzer runs the fuzzing in a child whose output
# goes to fuzz-0.log; it is moved to logs/<target>.log (cargo-fuzz's own output goes to
# logs/<target>.cargo.log). Usage: ./run-all.sh [SECONDS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(reference challenge manifest config gunzip layer_tar archive)
max_len() {
    case "$1" in
        reference | challenge) echo 4096 ;;
        manifest | config) echo 65536 ;;
        *) echo 1048576 ;;
    esac
}
mkdir -p logs
for t in "${targets[@]}"; do
    echo "== $t: ${seconds}s, -max_len=$(max_len "$t") ($(date -u +%FT%TZ))"
    RUSTC_BOOTSTRAP=1 nice -n 19 cargo fuzz run --fuzz-dir . "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
        -jobs=1 -workers=1 -print_final_stats=1 >"logs/$t.cargo.log" 2>&1
    status=$?
    mv fuzz-0.log "logs/$t.log"
    crashes=$(find "artifacts/$t" -type f 2>/dev/null | wc -l)
    echo "   exit $status, $crashes artifact(s) ($(date -u +%FT%TZ)); $(grep -E '^#[0-9]+' "logs/$t.log" | tail -1)"
done
