#!/usr/bin/env bash
# bench_fetch.sh: newsdigest's fetch round against the `reader` library on the shared feed farm.
#
#   benchmarks/bench_fetch.sh                # N=1000, 3 repetitions
#   N=10000 benchmarks/bench_fetch.sh       # one repetition, through compare_large.sh
#
# Runs ../shared/bench/compare.sh (see its README): for each side, a fresh work directory,
# `feeds import` of the farm's OPML, then three timed `fetch --all` rounds (cold, warm, 10%
# changed). The product gets a config in its work directory with a SQLite database there and
# allow_private_networks (the farm is on 127.0.0.x). Settings (environment): N, REPS, HOSTS,
# LATENCY_MS, CHANGE, READER_WORKERS as compare.sh takes them; BENCH_PY, the python of a
# virtualenv with ../shared/bench/requirements.txt (default ../.venv-bench/bin/python).
# The report is printed and saved to out/bench-fetch-N<N>.txt with the machine's description.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
BENCH_PY=${BENCH_PY:-$ROOT/../.venv-bench/bin/python}
NEWSDIGEST=${NEWSDIGEST:-$ROOT/.venv/bin/newsdigest}
N=${N:-1000}
REPS=${REPS:-3}

[[ -x $SHARED/compare.sh ]] || { echo "no $SHARED/compare.sh: ../shared is not present" >&2; exit 2; }
[[ -x $BENCH_PY ]] || {
    echo "no benchmark python at $BENCH_PY; create it outside the repo:" >&2
    echo "  python3 -m venv ../.venv-bench && ../.venv-bench/bin/pip install -r $SHARED/requirements.txt" >&2
    exit 2
}

CONFIG=$ROOT/benchmarks/fetch_config.yaml
mkdir -p "$ROOT/out"
REPORT=$ROOT/out/bench-fetch-N$N.txt
{
    echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "machine: $(nproc) cores, $(uname -m), $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
    echo "python: $("$ROOT/.venv/bin/python" --version 2>&1)"
    echo "command: N=$N REPS=$REPS benchmarks/bench_fetch.sh"
} > "$REPORT"

# compare.sh waits 60 s for its farm to render; 10,000 feeds take minutes here, so large
# farms go through compare_large.sh: the same steps and report, one repetition.
COMPARE=$SHARED/compare.sh
if (( N > 2000 )); then COMPARE=$ROOT/benchmarks/compare_large.sh; fi
PY=$BENCH_PY N=$N REPS=$REPS SHARED=$SHARED \
PRODUCT_IMPORT="cp $CONFIG {workdir}/c.yaml && $NEWSDIGEST --config {workdir}/c.yaml feeds import {opml}" \
PRODUCT_FETCH="$NEWSDIGEST --config {workdir}/c.yaml fetch --all" \
    "$COMPARE" | tee -a "$REPORT"
echo "report saved to $REPORT"
