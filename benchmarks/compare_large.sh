#!/usr/bin/env bash
# compare_large.sh: ../shared/bench/compare.sh's procedure for farms too big for its start-up
# wait. compare.sh gives the farm 60 s to render its feeds; on this 2-core machine 10,000 feeds
# take two to four minutes, so `N=10000 compare.sh` stops with "farm did not start". This
# script starts the same farm and waits for it as long as it takes (up to 20 minutes), then
# runs the same steps in the same way (fresh work directory per side, `import`, then timed
# `cold`, `warm`, farm tick, `changed`; whole command timed, GNU time's peak RSS, the farm's
# /stats before and after) and writes the same results.jsonl, which the shared
# compare_report.py turns into the same table. One repetition, reader first.
#
#   PY=../.venv-bench/bin/python N=10000 PRODUCT_IMPORT=... PRODUCT_FETCH=... \
#       benchmarks/compare_large.sh
#
# benchmarks/bench_fetch.sh calls it for N > 2000. Settings as compare.sh's: N, HOSTS (50),
# LATENCY_MS (20), CHANGE (0.1), READER_WORKERS (8), ROUND_TIMEOUT (seconds per command,
# 2400 here), KEEP=1 keeps the work directory.
set -euo pipefail

SHARED=${SHARED:-$(cd "$(dirname "$0")/../../shared/bench" && pwd)}
PY=${PY:-python3}
N=${N:-10000}
HOSTS=${HOSTS:-50}
LATENCY_MS=${LATENCY_MS:-20}
CHANGE=${CHANGE:-0.1}
READER_WORKERS=${READER_WORKERS:-8}
ROUND_TIMEOUT=${ROUND_TIMEOUT:-2400}
: "${PRODUCT_IMPORT:?set PRODUCT_IMPORT}"
: "${PRODUCT_FETCH:?set PRODUCT_FETCH}"
READER_IMPORT="$PY $SHARED/reader_cli.py --db {db} import {opml}"
READER_FETCH="$PY $SHARED/reader_cli.py --db {db} fetch --workers $READER_WORKERS"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-compare-large.XXXXXX")
RESULTS=$WORK/results.jsonl
"$PY" "$SHARED/farm.py" --feeds "$N" --hosts "$HOSTS" --latency-ms "$LATENCY_MS" --port 0 \
    --ready-file "$WORK/farm.url" --max-seconds 10800 > "$WORK/farm.log" 2>&1 &
FARM_PID=$!
cleanup() {
    kill "$FARM_PID" 2>/dev/null || true
    wait "$FARM_PID" 2>/dev/null || true
    if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$WORK"; else echo "work dir kept: $WORK"; fi
}
trap cleanup EXIT
for _ in $(seq 1200); do [[ -s $WORK/farm.url ]] && break; sleep 1; done  # bounded: 20 min
[[ -s $WORK/farm.url ]] || { echo "farm did not start:"; cat "$WORK/farm.log"; exit 1; }
FARM=$(cat "$WORK/farm.url")
curl -fsS "$FARM/feeds.opml" -o "$WORK/feeds.opml"
echo "farm $FARM: N=$N hosts=$HOSTS latency=${LATENCY_MS}ms change=$CHANGE reps=1" \
    "reader_workers=$READER_WORKERS ($(grep -o 'render_s=[0-9.]*' "$WORK/farm.log"))"

run_step() {  # SIDE STEP COMMAND DIR, as compare.sh's run_step
    local side=$1 step=$2 cmd=$3 dir=$4 before after t0 t1 rss
    cmd=${cmd//\{opml\}/$WORK/feeds.opml}
    cmd=${cmd//\{db\}/$dir/db.sqlite}
    cmd=${cmd//\{workdir\}/$dir}
    cmd=${cmd//\{farm\}/$FARM}
    before=$(curl -fsS "$FARM/stats")
    t0=$(date +%s%N)
    if ! (cd "$dir" && XDG_DATA_HOME=$dir/xdg/data XDG_CONFIG_HOME=$dir/xdg/config \
          XDG_CACHE_HOME=$dir/xdg/cache timeout "$ROUND_TIMEOUT" \
          /usr/bin/time -f %M -o "$dir/$step.maxrss" bash -c "$cmd") > "$dir/$step.log" 2>&1; then
        echo "FAILED: $side $step: $cmd" >&2
        tail -20 "$dir/$step.log" >&2
        exit 1
    fi
    t1=$(date +%s%N)
    after=$(curl -fsS "$FARM/stats")
    rss=$(tail -1 "$dir/$step.maxrss" 2>/dev/null || echo 0)
    printf '{"side":"%s","rep":1,"step":"%s","wall_s":%s,"maxrss_kb":%s,"before":%s,"after":%s}\n' \
        "$side" "$step" "$(( (t1 - t0) / 1000000 ))e-3" "${rss:-0}" "$before" "$after" >> "$RESULTS"
    printf '  %-8s rep 1 %-8s %7.2f s  (load %s)\n' "$side" "$step" \
        "$(( (t1 - t0) / 1000000 ))e-3" "$(cut -d' ' -f1 /proc/loadavg)"
}

for side in reader product; do
    dir=$WORK/$side-1
    mkdir -p "$dir"
    if [[ $side == reader ]]; then import=$READER_IMPORT; fetch=$READER_FETCH
    else import=$PRODUCT_IMPORT; fetch=$PRODUCT_FETCH; fi
    run_step "$side" import "$import" "$dir"
    run_step "$side" cold "$fetch" "$dir"
    run_step "$side" warm "$fetch" "$dir"
    curl -fsS -X POST "$FARM/tick?fraction=$CHANGE" > /dev/null
    run_step "$side" changed "$fetch" "$dir"
done

"$PY" "$SHARED/compare_report.py" "$RESULTS"
