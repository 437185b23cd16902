"""Every benchmark of the project in one run, each in its own process with a time budget.

    .venv/bin/python benchmarks/run_all.py           # make bench: < 15 min, docs/benchmarks.md
    .venv/bin/python benchmarks/run_all.py --quick   # make bench-quick: < 2 min, out/...-quick.md
        [--only fetch,tag,...] [--out PATH] [--fetch-n N]

Runs, one after the other (they would share the two cores otherwise): fetch against the
`reader` library (benchmarks/bench_fetch.sh on ../shared/bench's farm), ingest throughput
against the feedparser floor, near-duplicate lookup at scale, dedupe signatures, tagging,
digest rendering, sending and the soak, at the sizes of SIZES below. Each benchmark's
output is kept in out/bench/<name>.log; its figures are read from its JSON lines (the
fetch benchmark's from compare.sh's report). A benchmark that fails or runs out of its
budget is reported as such, with its last error line, and the others still run.

The `reader` peer needs a virtualenv with ../shared/bench/requirements.txt: created at
.venv-bench (git-ignored) when missing. Without ../shared the fetch and soak benchmarks
are reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
VENV_PY = ROOT / ".venv" / "bin" / "python"
BENCH_VENV = ROOT / ".venv-bench"
DOC = ROOT / "docs" / "benchmarks.md"
QUICK_DOC = ROOT / "out" / "benchmarks-quick.md"
LOGS = ROOT / "out" / "bench"
POSTGRES = os.environ.get(
    "NEWSDIGEST_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class BenchSetupError(Exception):
    """The benchmark environment (the reader virtualenv) could not be prepared."""


# ---------------------------------------------------------------- what runs, at which size


@dataclass(frozen=True)
class Spec:
    """One benchmark: how to start it and how long it may take (seconds)."""

    name: str
    title: str
    argv: tuple[str, ...]
    budget_s: int
    env: tuple[tuple[str, str], ...] = ()
    needs_shared: bool = False
    needs_reader: bool = False


def _py(script: str, *args: str) -> tuple[str, ...]:
    return (".venv/bin/python", f"benchmarks/{script}", *args)


# Sizes: chosen so the whole run fits its budget (sum: 14.4 minutes full, 2.5 minutes
# quick; the hard stop) on this 2-core machine when nothing else runs: the full run took
# 3.8 minutes with fetch N=150 and a 300-feed soak; N=1,000 adds about 2 minutes, a soak of
# 1,000 feeds (saturating one daemon) about 1.5. On a machine loaded by other jobs (a load
# average of 7-10 made fetch N=150 take 170 s), pass `--fetch-n 150`. The issue sizes
# (fetch N=10,000, lookup at 1M, soak 10 minutes of 10,000 feeds) take far longer than 15
# minutes; run the scripts directly for them (each section's command shows how).
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "fetch": {"N": 1000, "REPS": 1, "budget": 330},
        "ingest": {"feeds": 8, "probes": 50, "sizes": "15000", "pg_sizes": "8000", "budget": 90},
        "dedupe_sig": {"articles": 500, "budget": 15},
        "tag": {"articles": 2000, "budget": 20},
        "digest": {"subscribers": 1500, "articles": 5000, "stories": 1500, "budget": 60},
        "send": {"messages": 1500, "fresh": 200, "subscribers": 150, "budget": 50},
        "soak": {"feeds": 1000, "seconds": 60, "interval": 2, "postgres": True, "budget": 300},
    },
    "quick": {
        "fetch": {"N": 20, "REPS": 1, "budget": 54},
        "ingest": {"feeds": 2, "probes": 6, "sizes": "500", "pg_sizes": "", "budget": 15},
        "dedupe_sig": {"articles": 100, "budget": 3},
        "tag": {"articles": 300, "budget": 4},
        "digest": {"subscribers": 150, "articles": 1000, "stories": 300, "budget": 8},
        "send": {"messages": 100, "fresh": 20, "subscribers": 5, "budget": 14},
        "soak": {"feeds": 20, "seconds": 8, "interval": 4, "postgres": False, "budget": 50},
    },
}


def build_specs(mode: str, postgres: bool, bench_py: Path, fetch_n: int | None) -> list[Spec]:
    s = SIZES[mode]
    fetch = dict(s["fetch"], N=fetch_n or s["fetch"]["N"])
    ingest = s["ingest"]
    ingest_args = ["--feeds", str(ingest["feeds"]), "--probes", str(ingest["probes"])]
    ingest_args += ["--sizes", ingest["sizes"]]
    if postgres and ingest["pg_sizes"]:
        ingest_args += ["--pg-sizes", ingest["pg_sizes"]]
    else:
        ingest_args += ["--sqlite-only"]
    soak = s["soak"]
    soak_args = ["--feeds", str(soak["feeds"]), "--seconds", str(soak["seconds"])]
    soak_args += ["--interval", str(soak["interval"]), "--workdir", str(LOGS / "soak")]
    if not (postgres and soak["postgres"]):
        soak_args += ["--skip-postgres"]
    digest, send = s["digest"], s["send"]
    # compare.sh stops a command after ROUND_TIMEOUT: about half the budget lets the
    # product's cold round end by itself, so the reader figures before it are still reported.
    round_timeout = str(max(20, fetch["budget"] // 2))
    return [
        Spec(
            "fetch",
            "Fetch against reader",
            ("benchmarks/bench_fetch.sh",),
            fetch["budget"],
            env=(
                ("N", str(fetch["N"])),
                ("REPS", str(fetch["REPS"])),
                ("ROUND_TIMEOUT", round_timeout),
                ("BENCH_PY", str(bench_py)),  # absolute: compare.sh runs it elsewhere
            ),
            needs_shared=True,
            needs_reader=True,
        ),
        Spec(
            "ingest",
            "Ingest and near-duplicates",
            _py("bench_ingest.py", *ingest_args),
            ingest["budget"],
        ),
        Spec(
            "dedupe_sig",
            "Dedupe signatures",
            _py("bench_dedupe_sig.py", "--articles", str(s["dedupe_sig"]["articles"]), "--json"),
            s["dedupe_sig"]["budget"],
        ),
        Spec(
            "tag",
            "Tagging",
            _py("bench_tag.py", "--articles", str(s["tag"]["articles"])),
            s["tag"]["budget"],
        ),
        Spec(
            "digest",
            "Digest rendering",
            _py(
                "bench_digest.py",
                "--subscribers",
                str(digest["subscribers"]),
                "--articles",
                str(digest["articles"]),
                "--stories",
                str(digest["stories"]),
            ),
            digest["budget"],
        ),
        Spec(
            "send",
            "Sending",
            _py(
                "bench_send.py",
                "--messages",
                str(send["messages"]),
                "--fresh",
                str(send["fresh"]),
                "--subscribers",
                str(send["subscribers"]),
                "--json",
            ),
            send["budget"],
        ),
        Spec("soak", "Soak", _py("bench_soak.py", *soak_args), soak["budget"], needs_shared=True),
    ]


def command_line(spec: Spec) -> str:
    """The command to paste into a shell at the repository root to reproduce one benchmark."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in spec.env if k != "ROUND_TIMEOUT")
    return " ".join(filter(None, [env, shlex.join(spec.argv)])).replace(str(ROOT), "$PWD")


# ---------------------------------------------------------------- running


@dataclass(frozen=True)
class Outcome:
    """What one benchmark run left: its status, output and how long it took."""

    name: str
    status: str  # ok | failed | timeout | skipped
    seconds: float
    stdout: str = ""
    reason: str = ""  # the error's last line, or why it was skipped
    load_at_start: float = 0.0


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run(spec: Spec, log_dir: Path) -> Outcome:
    """Run one benchmark in its own process group; kill the group when the budget is spent."""
    load = os.getloadavg()[0]
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{spec.name}.log", log_dir / f"{spec.name}.err"
    env = dict(os.environ, **dict(spec.env), PYTHONUNBUFFERED="1")
    started = time.monotonic()
    print(
        f"== {spec.name} ({spec.title}): {command_line(spec)} "
        f"(budget {spec.budget_s} s, load {load:.1f})",
        flush=True,
    )
    with out_path.open("w") as out, err_path.open("w") as err:
        # A new session: the benchmark's farm, daemons and servers go with it on a kill.
        proc = subprocess.Popen(
            spec.argv, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
        )
        status = "ok"
        try:
            code = proc.wait(timeout=spec.budget_s)
            status = "ok" if code == 0 else "failed"
        except subprocess.TimeoutExpired:
            status = "timeout"
            _stop_group(proc)
            code = proc.returncode
    # Whatever the benchmark started and left running (a daemon's pool workers, a farm)
    # would load the next benchmark: count it for the report, then stop it.
    leftovers = _reap_group(proc.pid)
    seconds = time.monotonic() - started
    stdout, stderr = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    reason = ""
    if status == "failed":
        reason = last_line(stderr) or last_line(stdout) or f"exit code {code}"
    elif status == "timeout":
        reason = f"stopped after its budget of {spec.budget_s} s"
        if last_line(stderr):
            reason += f"; last error line: {last_line(stderr)}"
    if leftovers:
        note = f"it left {leftovers} process(es) running, stopped by run_all.py"
        reason = f"{reason}; {note}" if reason else note
    print(f"   {status} in {seconds:.0f} s {reason}", flush=True)
    return Outcome(spec.name, status, seconds, stdout, reason, load)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the benchmark's process group: SIGINT first, so Python's `finally` blocks and
    bash's EXIT traps clean up (drop a PostgreSQL schema, stop a farm), then SIGTERM and
    SIGKILL."""
    for sig, grace in ((signal.SIGINT, 15), (signal.SIGTERM, 5), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            break
    proc.wait()


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
    return members


def _reap_group(pgid: int) -> int:
    """Stop what is left of a finished benchmark's process group; how many were left."""
    left = _group_members(pgid)
    if not left:
        return 0
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 5
        while _group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
    return len(left)


def ensure_bench_venv(log_dir: Path) -> Path:
    """The python of .venv-bench, created with ../shared/bench/requirements.txt when missing."""
    python = BENCH_VENV / "bin" / "python"
    marker = BENCH_VENV / ".installed"
    if python.exists() and marker.exists():
        return python
    print(f"== creating {BENCH_VENV.name} for the reader peer (once, about a minute)", flush=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "venv-bench.log").open("w") as log:
        steps = [
            [sys.executable, "-m", "venv", str(BENCH_VENV)],
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "-r",
                str(SHARED_BENCH / "requirements.txt"),
            ],
        ]
        for step in steps:
            if subprocess.run(step, stdout=log, stderr=log, check=False).returncode != 0:
                raise BenchSetupError(
                    f"could not prepare {BENCH_VENV}: `{shlex.join(step)}` failed "
                    f"(see {log_dir / 'venv-bench.log'})"
                )
    marker.touch()
    return python


def postgres_reachable(url: str) -> bool:
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:  # any failure means: run SQLite only, and say so
        return False
    return True


# ---------------------------------------------------------------- parsing (pure)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` that is a JSON object; other lines are ignored."""
    records = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                records.append(value)
    return records


_STEP = re.compile(r"^\s+(reader|product)\s+rep (\d+) (import|cold|warm|changed)\s+([\d.]+) s$")
_ROW = re.compile(
    r"^(import|cold|warm|changed)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+|inf)\s+"
    r"(\{[^}]*\})\s+(\{[^}]*\})\s+(\d+)/(\d+)"
)


@dataclass(frozen=True)
class FetchRound:
    step: str
    reader_s: float | None
    product_s: float | None
    product_codes: dict[str, int] = field(default_factory=dict)
    reader_rss_mb: int | None = None
    product_rss_mb: int | None = None


def parse_fetch(text: str) -> list[FetchRound]:
    """compare.sh's output: the report table when it finished, else the timed steps so far."""
    rows = {}
    for line in text.splitlines():
        m = _ROW.match(line)
        if m:
            step = m.group(1)
            rows[step] = FetchRound(
                step,
                float(m.group(2)),
                float(m.group(3)),
                json.loads(m.group(6)),
                int(m.group(7)),
                int(m.group(8)),
            )
    if rows:
        return [rows[s] for s in ("import", "cold", "warm", "changed") if s in rows]
    walls: dict[tuple[str, str], list[float]] = {}
    for line in text.splitlines():
        m = _STEP.match(line)
        if m:
            walls.setdefault((m.group(1), m.group(3)), []).append(float(m.group(4)))

    def median(side: str, step: str) -> float | None:
        values = walls.get((side, step))
        return statistics.median(values) if values else None

    return [
        FetchRound(step, median("reader", step), median("product", step))
        for step in ("import", "cold", "warm", "changed")
        if median("reader", step) is not None or median("product", step) is not None
    ]


# ---------------------------------------------------------------- rendering (pure)


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("**pass**" if ok else "**miss**")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass(frozen=True)
class Section:
    """A rendered benchmark: its body, and the one-line headline for the summary."""

    body: str
    headline: str = "-"
    goal: str = "-"
    ratio: str = "-"
    verdict: str = "-"


FETCH_GOALS = {"cold": 0.40, "warm": 0.30, "changed": 0.30}


def render_fetch(outcome: Outcome, spec: Spec) -> Section:
    rounds = parse_fetch(outcome.stdout)
    n = dict(spec.env).get("N", "?")
    rows = []
    for r in rounds:
        ratio = r.product_s / r.reader_s if r.product_s and r.reader_s else None
        goal = FETCH_GOALS.get(r.step)
        rows.append(
            [
                r.step,
                fmt(r.reader_s, 2),
                fmt(r.product_s, 2) if r.product_s else "not finished",
                fmt(ratio, 2),
                f"<= {goal:.2f}" if goal else "(not judged)",
                verdict(None if ratio is None or goal is None else ratio <= goal),
                json.dumps(r.product_codes) if r.product_codes else "-",
                f"{fmt(r.reader_rss_mb)} / {fmt(r.product_rss_mb)}",
            ]
        )
    body = (
        table(
            [
                "round",
                "reader s",
                "newsdigest s",
                "ratio",
                "goal",
                "",
                "farm codes (newsdigest)",
                "peak RSS MB r / n",
            ],
            rows,
        )
        if rows
        else "No round was timed."
    )
    body += (
        f"\n\nN={n} feeds on 50 loopback hosts, 20 ms latency; reader 3.26 with 8 workers. "
        "Wall time of whole processes (start-up included), median of the repetitions; "
        "ratio = newsdigest / reader (below 1: newsdigest is faster). The issue's other "
        "goal, a warm round of 10,000 feeds in under 5 s and 300 MB, needs "
        "`N=10000 make bench-fetch`, which does not fit this run's budget: its latest run is "
        "in [benchmarks-large.md](benchmarks-large.md)."
    )
    judged = {r.step: r for r in rounds if r.step in FETCH_GOALS}
    ratios = {s: r.product_s / r.reader_s for s, r in judged.items() if r.product_s and r.reader_s}
    headline = ", ".join(f"{s} {ratios[s]:.2f}" for s in FETCH_GOALS if s in ratios) or "-"
    return Section(
        body,
        headline=f"newsdigest / reader at N={n}: {headline}",
        goal="<= 0.40 cold, 0.30 warm, 0.30 changed",
        ratio=headline,
        verdict=verdict(
            all(ratios[s] <= g for s, g in FETCH_GOALS.items()) if len(ratios) == 3 else None
        ),
    )


def render_ingest(outcome: Outcome, spec: Spec) -> Section:
    records = json_lines(outcome.stdout)
    floor = next((r for r in records if r.get("figure") == "parse_floor"), None)
    ingests = [r for r in records if r.get("figure") == "ingest"]
    rows = []
    if floor:
        rows.append(["feedparser only (floor)", fmt(floor["entries_per_s"]), "1.00", "-", "-"])
    for r in ingests:
        rows.append(
            [
                f"prepare + save_entries, {r['engine']}",
                fmt(r["entries_per_s"]),
                f"{r['ratio_to_floor']:.2f}",
                ">= 0.50",
                verdict(r["ratio_to_floor"] >= 0.5),
            ]
        )
    body = "(a) Throughput"
    if floor:
        body += f" ({floor['feeds']} generated feeds, {floor['entries']:,} entries, one process)"
    body += ":\n\n" + (
        table(["path", "entries/s", "of the floor", "goal", ""], rows) if rows else "No figure."
    )
    if ingests:
        body += "\n\nStore share of the ingest time: " + ", ".join(
            f"{r['engine']} {r['store_share']:.0%}" for r in ingests
        )
    best = min((r["ratio_to_floor"] for r in ingests), default=None)
    return Section(
        body,
        headline="ingest / feedparser floor: "
        + (", ".join(f"{r['engine']} {r['ratio_to_floor']:.2f}" for r in ingests) or "-"),
        goal=">= 0.50 of the floor",
        ratio=fmt(best, 2),
        verdict=verdict(None if best is None else best >= 0.5),
    )


def render_lookup(outcome: Outcome, spec: Spec) -> Section:
    lookups = [r for r in json_lines(outcome.stdout) if r.get("figure") == "near_duplicate_lookup"]
    rows = [
        [
            r["engine"],
            fmt(r["stored_articles"]),
            fmt(r["band_rows"]),
            str(r["probes"]),
            fmt(r["median_ms"], 1),
            fmt(r["p99_ms"], 1),
            f"{r['rss_mb_before']:.0f} / {r['rss_mb_after']:.0f}",
            "< 2 ms at 1M",
            verdict(r["median_ms"] < 2),
        ]
        for r in lookups
    ]
    body = (
        "(b) Near-duplicate lookup + insert + band index, one transaction per article, "
        "half the probes near-copies of stored articles:\n\n"
        + (
            table(
                [
                    "engine",
                    "stored",
                    "band rows",
                    "probes",
                    "median ms",
                    "p99 ms",
                    "RSS MB before / after",
                    "goal",
                    "",
                ],
                rows,
            )
            if rows
            else "No figure."
        )
    )
    worst = max((r["median_ms"] for r in lookups), default=None)
    sizes = "/".join(sorted({f"{r['stored_articles']:,}" for r in lookups}))
    return Section(
        body,
        headline=f"lookup median at {sizes or '-'} stored: "
        + (", ".join(f"{r['engine']} {r['median_ms']:.1f} ms" for r in lookups) or "-"),
        goal="< 2 ms median at 1M",
        ratio=f"{worst / 2:.1f}x the goal" if worst is not None else "-",
        verdict=verdict(None if worst is None else worst < 2),
    )


def render_sig(outcome: Outcome, spec: Spec) -> Section:
    records = [r for r in json_lines(outcome.stdout) if r.get("bench") == "dedupe_sig"]
    rows = [
        [r["what"], fmt(r["per_s"]), fmt(r["median_ms"], 3), fmt(r["p99_ms"], 3)] for r in records
    ]
    body = table(["step", "per second", "median ms", "p99 ms"], rows) if rows else "No figure."
    minhash = next((r for r in records if r["what"].startswith("minhash")), None)
    return Section(
        body + "\n\n600-word synthetic articles; no goal of its own (part of ingest's cost).",
        headline=f"MinHash {fmt(minhash['per_s'])}/s" if minhash else "-",
    )


def _single(outcome: Outcome, bench: str) -> dict[str, Any] | None:
    return next((r for r in json_lines(outcome.stdout) if r.get("bench") == bench), None)


def render_tag(outcome: Outcome, spec: Spec) -> Section:
    r = _single(outcome, "tag")
    if not r:
        return Section("No figure.")
    ratio = r["articles_per_s"] / 2000
    body = table(
        [
            "articles",
            "words each",
            "pattern hits / word",
            "CPU s",
            "articles/s (one core)",
            "goal",
            "of the goal",
            "",
        ],
        [
            [
                fmt(r["articles"]),
                str(r["words_per_article"]),
                str(r["hits_per_word"]),
                fmt(r["seconds"], 2),
                fmt(r["articles_per_s"]),
                ">= 2,000",
                f"{ratio:.2f}",
                verdict(ratio >= 1),
            ]
        ],
    )
    return Section(
        body,
        f"{fmt(r['articles_per_s'])} articles/s",
        ">= 2,000/s",
        f"{ratio:.2f}",
        verdict(ratio >= 1),
    )


def render_digest(outcome: Outcome, spec: Spec) -> Section:
    r = _single(outcome, "digest")
    if not r:
        return Section("No figure.")
    ratio = r["subscribers_per_s"] / 200
    body = table(
        [
            "subscribers",
            "articles",
            "stories",
            "distinct filters",
            "composed/s",
            "composed + rendered/s",
            "peak RSS MB",
            "goal",
            "of the goal",
            "",
        ],
        [
            [
                fmt(r["subscribers"]),
                fmt(r["articles"]),
                fmt(r["stories"]),
                fmt(r["distinct_filter_sets"]),
                fmt(r["compose_per_s"]),
                fmt(r["subscribers_per_s"]),
                fmt(r["peak_rss_mb"]),
                ">= 200/s",
                f"{ratio:.2f}",
                verdict(ratio >= 1),
            ]
        ],
    )
    body += (
        "\n\nCPU time of the benchmark process (`time.process_time()`), one core. Rendered: "
        "the web page, the HTML email (CSS inlined) and the plain text, nothing written."
    )
    return Section(
        body,
        f"{fmt(r['subscribers_per_s'])} subscribers/s",
        ">= 200/s",
        f"{ratio:.2f}",
        verdict(ratio >= 1),
    )


def render_send(outcome: Outcome, spec: Spec) -> Section:
    r = _single(outcome, "send")
    if not r:
        return Section("No figure.")
    gain = r["reused_per_s"] / r["fresh_per_s"] if r["fresh_per_s"] else None
    body = table(
        ["what", "count", "rate"],
        [
            [
                "mailer, one reused connection",
                f"{r['messages']:,} messages",
                f"{fmt(r['reused_per_s'])} messages/s",
            ],
            [
                "mailer, a new connection per message",
                f"{r['fresh_messages']:,} messages",
                f"{fmt(r['fresh_per_s'])} messages/s",
            ],
            [
                "`digest send` end to end (SQLite ledger)",
                f"{r['subscribers']:,} digests",
                f"{fmt(r['end_to_end_per_s'])} digests/s",
            ],
        ],
    )
    body += (
        f"\n\nConnection reuse: {fmt(gain, 2)}x a new connection per message. The server is "
        "aiosmtpd's Sink (accepts, discards) in its own process on loopback, no TLS; the "
        "message is the sample digest (text + HTML, about 8.6 KB). The pure-Python server "
        "shares the two cores, so these are floors for this machine, not properties of SMTP. "
        "The issue sets no number: it asks for the figure."
    )
    return Section(
        body, f"{fmt(r['reused_per_s'])} messages/s reused", "(record it)", f"reuse {fmt(gain, 2)}x"
    )


def render_soak(outcome: Outcome, spec: Spec) -> Section:
    records = json_lines(outcome.stdout)
    summaries = [r for r in records if r.get("bench") == "soak_summary"]
    machine = next((r for r in records if r.get("bench") == "machine"), {})
    rows = []
    for r in summaries:
        growth = r["rss_growth_after_warmup_mb"]
        no_growth = None if growth is None else growth <= 0.1 * r["rss_mb_first"]
        rows.append(
            [
                r["run"],
                str(r["daemons"]),
                fmt(r["seconds"]),
                fmt(r["fetches_per_s"], 1),
                json.dumps(r["by_status"]),
                fmt(r["cpu_pct"]),
                f"{r['rss_mb_first']:.0f} -> {r['rss_mb_last']:.0f}",
                fmt(growth, 1),
                verdict(no_growth),
                fmt(r["lag_p50_s"], 1),
                fmt(r["lag_p95_s"], 1),
                " ".join(str(c) for c in r["exit_codes"]),
            ]
        )
    runs = {r["run"]: r for r in summaries}
    scale = None
    if "postgres-1" in runs and "postgres-2" in runs and runs["postgres-1"]["fetches_per_s"]:
        scale = runs["postgres-2"]["fetches_per_s"] / runs["postgres-1"]["fetches_per_s"]
    finished = {r["run"] for r in summaries}
    last_samples: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.get("bench") == "soak" and r["run"] not in finished:
            last_samples[r["run"]] = r
    body = (
        table(
            [
                "run",
                "daemons",
                "s",
                "fetches/s",
                "farm codes",
                "CPU % (tree)",
                "RSS MB",
                "growth after warm-up MB",
                "no growth",
                "lag p50 s",
                "lag p95 s",
                "exit",
            ],
            rows,
        )
        if rows
        else "No run finished."
    )
    if last_samples:
        body += "\n\nRuns stopped before their end, last sample:\n\n" + table(
            ["run", "at s", "farm requests", "CPU % (tree)", "RSS MB", "lag p50 s", "lag p95 s"],
            [
                [
                    r["run"],
                    fmt(r["t_s"]),
                    fmt(r["requests"]),
                    fmt(r["cpu_pct"]),
                    fmt(r["rss_mb"]),
                    fmt(r["p50_s"], 1),
                    fmt(r["p95_s"], 1),
                ]
                for r in last_samples.values()
            ],
        )
    body += (
        f"\n\n{machine.get('feeds', '?')} farm feeds (50 hosts, 20 ms latency), fetched once"
        " cold before the runs (not measured); then the daemons are kept saturated with"
        " rounds: 5% of the feeds changed, every feed due at once, the next round when all"
        " are fetched. Fetches/s is what that many daemons can do; lag is from due to fetched"
        " per feed (p50/p95 over every round). CPU % is of one core, summed over the daemons'"
        " process trees (parse workers included), averaged over the run. RSS is the daemons'"
        " own processes (their parse workers live as long as they do: the tree's RSS is in"
        " the benchmark's log). No growth: RSS after"
        " the first quarter of the run grows by at most 10%. Exit 0: the daemons stopped"
        " cleanly on SIGTERM."
    )
    if summaries and max(r["seconds"] for r in summaries) < 300:
        body += (
            " Runs this short show the trend, not proof of no leak; the issue's 10-minute runs"
            " (`make bench-soak`) decide that."
        )
    if scale is not None:
        body += (
            f" Two daemons on PostgreSQL fetch {scale:.2f}x what one does (goal: scales, >= 1.5x)."
        )
    return Section(
        body,
        headline=", ".join(
            f"{r['run']} {r['fetches_per_s']:.1f} fetches/s, lag p95 {fmt(r['lag_p95_s'], 1)} s"
            for r in summaries
        )
        or "-",
        goal="RSS flat; 2 daemons >= 1.5x 1",
        ratio=f"2/1 daemons {scale:.2f}x" if scale is not None else "-",
        verdict=verdict(soak_ok(summaries, scale)),
    )


def soak_ok(summaries: Sequence[dict[str, Any]], scale: float | None) -> bool | None:
    """Pass when no run's RSS grew after warm-up and two daemons scaled (when both ran)."""
    growths = [
        r["rss_growth_after_warmup_mb"] <= 0.1 * r["rss_mb_first"]
        for r in summaries
        if r["rss_growth_after_warmup_mb"] is not None
    ]
    if not growths and scale is None:
        return None
    return all(growths) and (scale is None or scale >= 1.5)


RENDERERS: dict[str, list[tuple[str, Callable[[Outcome, Spec], Section]]]] = {
    "fetch": [("Fetch (`make bench-fetch`)", render_fetch)],
    "ingest": [
        ("Ingest (`make bench-ingest`)", render_ingest),
        ("Near-duplicates at scale (`make bench-ingest`)", render_lookup),
    ],
    "dedupe_sig": [("Dedupe signatures (`benchmarks/bench_dedupe_sig.py`)", render_sig)],
    "tag": [("Tagging (`make bench-tag`)", render_tag)],
    "digest": [("Digests (`make bench-digest`)", render_digest)],
    "send": [("Sending digests (`make bench-send`)", render_send)],
    "soak": [("Soak (`make bench-soak`)", render_soak)],
}

NOTES = """\
## Notes (what each benchmark does; still true of the code)

- **Fetch**: `benchmarks/bench_fetch.sh` runs `../shared/bench/compare.sh`: for each side a
  fresh work directory, `feeds import` of the farm's OPML, then three timed `fetch --all`
  rounds (cold, warm, 10% changed), whole processes, against `reader` on the same farm.
  The product's config is `benchmarks/fetch_config.yaml` (SQLite in the work directory,
  `allow_private_networks: true`). A cold round's time is per-entry work (parsing,
  normalizing, tagging, MinHash in the parse workers; story placement in the writer); a
  warm round's is mostly process start-up (imports) at small N.
  `out/bench-fetch-N<N>.txt` keeps the report.
- **Ingest**: `ingest.pipeline.prepare` (parse, normalize, tag, dedupe candidate) and
  `ingest.store.save_entries` (one transaction per feed) on the same generated documents
  that `feedparser.parse` alone is timed on (the floor, best of 3). Wall clock, one process.
- **Near-duplicates**: `articles` and `minhash_bands` are filled with synthetic rows, then
  each probe is placed with `ingest.stories.place_new_articles`, inserted and indexed;
  filler articles have the code's 16 band rows each and belong to stories as real ones do.
  The 100,000 and 1,000,000 sizes: `bench_ingest.py --skip-throughput --sizes
  100000,1000000` (about 8 minutes of loading per million on this machine).
- **Tagging**: 600-word synthetic articles in English, Spanish, French and Arabic with
  about 0.2 pattern hits per word (like the development set); CPU time of one process.
- **Digests**: 5,000 synthetic articles in 1,500 stories over one day, subscribers with
  varied filters, 6 time zones; compose over one `StoryPool`, then render page, email
  and text. Peak RSS is mostly the fragment and section caches.
- **Sending**: the mailer over one reused SMTP connection, over a new connection each,
  and `digest send` end to end (ledger claim, compose, render, SMTP, mark sent).
- **Soak**: `newsdigest run` against the farm, sampled every few seconds (CPU and RSS of
  the process tree, the schedule lag histogram from `/metrics`); then one and two daemons
  on PostgreSQL. The issue's soak is 10,000 feeds for 10 minutes:
  `make bench-soak` (about 35 minutes); its latest run is in
  [benchmarks-large.md](benchmarks-large.md).
"""


@dataclass(frozen=True)
class Machine:
    nproc: int
    cpu: str
    ram_gb: float
    python: str
    kernel: str
    load_start: tuple[float, float, float]


def machine() -> Machine:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        lscpu = ""
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name:")),
        platform.processor() or "unknown",
    )
    mem = next(
        (ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal:")),
        "MemTotal: 0 kB",
    )
    load = os.getloadavg()
    return Machine(
        nproc=len(os.sched_getaffinity(0)),
        cpu=cpu,
        ram_gb=int(mem.split()[1]) / 1024 / 1024,
        python=platform.python_version(),
        kernel=f"{platform.system()} {platform.release()} {platform.machine()}",
        load_start=(round(load[0], 1), round(load[1], 1), round(load[2], 1)),
    )


def render_document(
    mode: str,
    command: str,
    host: Machine,
    started: datetime,
    results: Sequence[tuple[Spec, Outcome]],
    total_s: float,
    load_end: float,
    postgres: bool,
) -> str:
    parts = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` (benchmarks/run_all.py): do not edit by hand, the next run "
        "rewrites this file. Each benchmark ran as its own process, one after the other, with "
        "a time budget; its full output is in out/bench/<name>.log after a run.",
        "",
        "## Machine",
        "",
        table(
            ["", ""],
            [
                ["date", started.strftime("%Y-%m-%d %H:%M UTC")],
                ["CPUs (`nproc`)", str(host.nproc)],
                ["CPU model (`lscpu`)", host.cpu],
                ["RAM", f"{host.ram_gb:.1f} GB"],
                ["system", host.kernel],
                ["Python", host.python],
                ["load average at start (1/5/15 min)", " / ".join(str(x) for x in host.load_start)],
                ["load average at the end (1 min)", f"{load_end:.1f}"],
                ["run", f"{mode}, {total_s / 60:.1f} minutes in all"],
                ["PostgreSQL", "reachable" if postgres else "not reachable: SQLite only"],
            ],
        ),
        "",
        "This machine is shared: other jobs (test suites, other benchmarks) ran during the "
        f"run, with a load average of {host.load_start[0]} on {host.nproc} cores at the start "
        "(the load when each benchmark started is in the summary). Wall-clock figures are "
        "therefore several times what an idle machine gives (the harness README measured "
        "reader's cold round of 1,000 feeds at 20.8 s idle; 169 s under a load of 6-8 here); "
        "ratios against a peer timed in the same run are the steadier figure, and CPU-time "
        "figures (tagging, digests) suffer less than wall-time ones.",
        "",
        "## Summary",
        "",
    ]
    summary_rows = []
    sections = []
    for spec, outcome in results:
        for title, render in RENDERERS[spec.name]:
            section = render(outcome, spec) if outcome.status != "skipped" else Section("")
            status = {
                "ok": "ran",
                "failed": "**failed**",
                "timeout": "**out of budget**",
                "skipped": "skipped",
            }[outcome.status]
            summary_rows.append(
                [
                    title,
                    status,
                    section.headline,
                    section.goal,
                    section.ratio,
                    section.verdict,
                    f"{outcome.seconds:.0f} / {spec.budget_s}",
                    f"{outcome.load_at_start:.1f}",
                ]
            )
            text = [f"## {title}", ""]
            if outcome.status == "skipped":
                text += [f"Skipped: {outcome.reason}.", ""]
            elif outcome.status != "ok":
                what = "failed" if outcome.status == "failed" else "ran out of its budget"
                text += [
                    f"**The benchmark {what}**: {outcome.reason}. Figures below are what "
                    "it printed before that.",
                    "",
                ]
            if outcome.status != "skipped":
                text += [section.body, ""]
            text += [
                f"Command: `{command_line(spec)}` ({outcome.seconds:.0f} s, load average "
                f"{outcome.load_at_start:.1f} at its start).",
                "",
            ]
            sections.append("\n".join(text))
    parts.append(
        table(
            ["benchmark", "status", "figure", "goal", "ratio", "", "s / budget", "load"],
            summary_rows,
        )
    )
    parts.append("")
    parts.append(
        "Ratios: fetch is newsdigest / reader wall time (lower is better); ingest is "
        "entries/s / the feedparser-only floor; tagging and digests are the figure / the "
        "issue's goal; lookup is the median / 2 ms; soak is two daemons' fetches/s / one's."
    )
    parts.append("")
    parts.extend(sections)
    parts.append(NOTES)
    return "\n".join(parts).rstrip("\n") + "\n"


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--out", type=Path, help="the Markdown file to write")
    parser.add_argument("--fetch-n", type=int, help="feeds for the fetch benchmark")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    out = args.out or (QUICK_DOC if args.quick else DOC)
    command = "make bench-quick" if args.quick else "make bench"
    if args.only or args.out or args.fetch_n:
        command = "python benchmarks/run_all.py " + shlex.join(argv or sys.argv[1:])

    host = machine()
    started = datetime.now(UTC)
    t0 = time.monotonic()
    shared = SHARED_BENCH.exists()
    postgres = postgres_reachable(POSTGRES)
    bench_py, setup_error = BENCH_VENV / "bin" / "python", ""
    specs = build_specs(mode, postgres, bench_py, args.fetch_n)
    wanted = {n for n in args.only.split(",") if n}
    unknown = wanted - {s.name for s in specs}
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; known: {[s.name for s in specs]}")
    if shared and any(s.needs_reader and (not wanted or s.name in wanted) for s in specs):
        try:
            ensure_bench_venv(LOGS)
        except BenchSetupError as exc:
            setup_error = str(exc)
    results = []
    for spec in specs:
        if wanted and spec.name not in wanted:
            continue
        if spec.needs_shared and not shared:
            outcome = Outcome(spec.name, "skipped", 0, reason="../shared is not present")
        elif spec.needs_reader and setup_error:
            outcome = Outcome(spec.name, "skipped", 0, reason=setup_error)
        else:
            outcome = run(spec, LOGS)
        results.append((spec, outcome))
    total = time.monotonic() - t0
    document = render_document(
        mode, command, host, started, results, total, os.getloadavg()[0], postgres
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(document, encoding="utf-8")
    print(f"== {len(results)} benchmarks in {total / 60:.1f} minutes; wrote {out}")
    return 0 if all(o.status in ("ok", "skipped") for _, o in results) else 1


if __name__ == "__main__":
    sys.exit(main())
