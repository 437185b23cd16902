"""Soak benchmark (issue 8): `newsdigest run` daemons kept busy against the feed farm.

N farm feeds (20 ms latency, 50 loopback hosts) are imported into PostgreSQL and fetched
once cold with `newsdigest fetch --all` (the warm-up, timed but not measured). Then, for
each daemon count (1, then 2, on the same warm database), the daemons run for a fixed
time while the benchmark keeps them saturated with rounds: the farm changes a share of
its feeds (5%: those answer 200 with new entries, the rest 304), every feed is marked
due at once, and when every feed has been fetched the next round starts. So fetches/s
is what that many daemons can do, and two daemons' figure over one's is the scale-out.

Every few seconds it samples the daemons' CPU (whole process trees: the parse workers
count) and RSS, and reads the schedule-lag histogram from each daemon's /metrics. Per run
it reports fetches/s, rounds, the lag from due to fetched per feed (p50/p95, from the
database: last_fetched_at minus the moment the round marked it due), the claim lag of
/metrics (bucket-interpolated), CPU % and the load average. RSS is the daemons' own
processes at the start, a quarter in and at the end (a leak shows there); the whole
tree's RSS (the daemons' kept parse workers included) is reported beside it, with its
peak.

    .venv/bin/python benchmarks/bench_soak.py                          # 10,000 feeds, 10 min a run
    .venv/bin/python benchmarks/bench_soak.py --feeds 1000 --seconds 120
    .venv/bin/python benchmarks/bench_soak.py --quick                  # 100 feeds, 30 s a run

Prints one JSON object a line; the `soak_summary` lines are the results.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select, text, update

from ingest.models import Feed
from newsdigest.db import make_engine

ROOT = Path(__file__).resolve().parents[1]
FARM = ROOT.parent / "shared" / "bench" / "farm.py"
PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
CLI = "import sys; from newsdigest.cli import main; sys.exit(main(sys.argv[1:]))"


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_json(url: str, method: str = "GET") -> Any:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body.strip().startswith((b"{", b"[")) else body.decode()


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass(frozen=True)
class Farm:
    base: str
    pid: int


@contextmanager
def farm(workdir: Path, feeds: int) -> Iterator[Farm]:
    ready = workdir / "farm.url"
    ready.unlink(missing_ok=True)  # a stale one from an earlier run would be read at once
    proc = subprocess.Popen(
        [
            PY,
            str(FARM),
            "--feeds",
            str(feeds),
            "--hosts",
            "50",
            "--latency-ms",
            "20",
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--max-seconds",
            "7200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not ready.exists() or not ready.read_text().strip():
            if proc.poll() is not None:
                raise SystemExit("the farm did not start")
            time.sleep(0.2)
        yield Farm(ready.read_text().strip().rstrip("/"), proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def tree(pid: int) -> list[int]:
    """The pid and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


@dataclass(frozen=True)
class Sample:
    """CPU seconds used so far and RSS in MB, summed over process trees."""

    cpu: float  # the whole trees (the daemons' parse workers included)
    rss: float
    main_rss: float  # the roots' own RSS (a leak shows there first)
    main_cpu: tuple[float, ...]  # each root's own CPU (its event loop and writer: one GIL)


def sample(pids: list[int]) -> Sample:
    """CPU and RSS of the process trees of ``pids`` (a replaced parse worker's CPU time is
    in its parent's children's times)."""
    cpu = rss = main = 0.0
    own: list[float] = []
    for root in pids:
        mine = 0.0
        for p in tree(root):
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # utime + stime, and cutime + cstime: the parse workers of finished batches
            # are gone, their CPU time is in their parent's children's times.
            cpu += sum(int(f) for f in fields[11:15]) / CLK_TCK
            rss += int(fields[21]) * PAGE / 1e6
            if p == root:
                main += int(fields[21]) * PAGE / 1e6
                mine = (int(fields[11]) + int(fields[12])) / CLK_TCK
        own.append(mine)
    return Sample(cpu, rss, main, tuple(own))


def machine_busy() -> float:
    """CPU seconds all cores have been busy since boot (everything but idle and iowait)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def backend_cpu(engine: Engine, application: str) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends serving connections named
    ``application`` (the daemons': PGAPPNAME), read from /proc: the server must run on
    this host (None when it does not). A backend that ended since is not counted; the
    daemons keep their pooled connections for the run."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
            {"a": application},
        ).scalars()
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return None
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


_BUCKET = re.compile(r'newsdigest_schedule_lag_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)')


def lag_quantiles(metrics_texts: Sequence[str]) -> dict[str, float | None]:
    """p50 and p95 of the claim lag over every daemon's histogram (buckets summed by
    bound), interpolated linearly inside a bucket as Prometheus' histogram_quantile does."""
    summed: dict[float, float] = {}
    for body in metrics_texts:
        for le, n in _BUCKET.findall(body):
            bound = float("inf") if le == "+Inf" else float(le)
            summed[bound] = summed.get(bound, 0.0) + float(n)
    buckets = sorted(summed.items())
    if not buckets or buckets[-1][1] == 0:
        return {"p50_s": None, "p95_s": None}
    total = buckets[-1][1]
    out: dict[str, float | None] = {}
    for name, q in (("p50_s", 0.5), ("p95_s", 0.95)):
        rank = q * total
        lower, below = 0.0, 0.0
        for bound, cumulative in buckets:
            if cumulative >= rank:
                if bound == float("inf"):
                    out[name] = lower
                else:
                    share = (rank - below) / (cumulative - below) if cumulative > below else 1.0
                    out[name] = round(lower + (bound - lower) * share, 2)
                break
            lower, below = bound, cumulative
    return out


def quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def write_config(
    workdir: Path, database: str, name: str, claim_batch: int, parse_workers: int | None
) -> Path:
    # Feeds fall due only when a round marks them (the interval is longer than any run);
    # parse workers (unless given) and everything else as a user gets them by default.
    path = workdir / f"{name}.yaml"
    workers = "" if parse_workers is None else f"  parse_workers: {parse_workers}\n"
    path.write_text(
        f"database: '{database}'\n"
        f"fetch:\n{workers}  allow_private_networks: true\n  default_interval_minutes: 720\n"
        "  min_interval_minutes: 720\n  max_interval_minutes: 720\n"
        "daemon:\n  fetch_tick_seconds: 1\n  digest_tick_seconds: 3600\n"
        f"  fulltext_tick_seconds: 3600\n  lease_seconds: 120\n  claim_batch: {claim_batch}\n",
        encoding="utf-8",
    )
    return path


def cli(config: Path, *args: str) -> list[str]:
    return [PY, "-c", CLI, "--config", str(config), *args]


def warm_up(workdir: Path, base: str, config: Path, label: str) -> dict[str, Any]:
    """Import the farm's feeds and fetch them all once (the cold round, not measured)."""
    opml = workdir / "feeds.opml"
    opml.write_bytes(urllib.request.urlopen(f"{base}/feeds.opml", timeout=60).read())
    subprocess.run(cli(config, "feeds", "import", str(opml)), check=True, stdout=subprocess.DEVNULL)
    started, load_before = time.monotonic(), load()
    subprocess.run(cli(config, "fetch", "--all"), check=True, stdout=subprocess.DEVNULL)
    return {
        "bench": "soak_warmup",
        "run": label,
        "seconds": round(time.monotonic() - started, 1),
        "load_average": load_before,
    }


class Rounds:
    """Keeps the daemons busy: a farm change, every feed due, wait for all, again."""

    def __init__(self, engine: Engine, base: str, change: float) -> None:
        self.engine = engine
        self.base = base
        self.change = change
        self.marked: datetime | None = None
        self.completed = 0
        self.lags: list[float] = []  # seconds from due to fetched, per feed and round
        # The farm re-renders its changed feeds inside /tick (5.5 s for 500 of 10,000
        # here), and nothing is due meanwhile: a round is that plus the time its feeds
        # were due. The second is what the daemons decide, so it is summed apart.
        self.tick_s = 0.0
        self.due_s = 0.0
        self.due_fetches = 0

    def start(self) -> None:
        ticked = time.monotonic()
        http_json(f"{self.base}/tick?fraction={self.change}", "POST")
        self.tick_s += time.monotonic() - ticked
        self.marked = datetime.now(UTC)  # the daemons run on this host's clock too
        with self.engine.begin() as conn:
            conn.execute(update(Feed).values(next_due_at=self.marked))

    def poll(self) -> bool:
        """Start the next round when this one is done; True when one was completed.

        It polls four times a second, so it counts in the database; the fetch times are
        read once, when the round is complete (reading them at every poll cost the
        harness about a tenth of a core at 10,000 feeds, taken from the daemons)."""
        assert self.marked is not None
        with self.engine.connect() as conn:
            done = conn.execute(
                select(func.count(Feed.id)).where(Feed.last_fetched_at >= self.marked)
            ).scalar_one()
            if done < conn.execute(select(func.count(Feed.id))).scalar_one():
                return False
            fetched = conn.execute(
                select(Feed.last_fetched_at).where(Feed.last_fetched_at >= self.marked)
            ).scalars()
            lags = [(f - self.marked).total_seconds() for f in fetched]
        self.lags.extend(lags)
        self.due_s += max(lags, default=0.0)
        self.due_fetches += len(lags)
        self.completed += 1
        self.start()
        return True


def wait_ready(ports: list[int], procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for port, proc in zip(ports, procs, strict=True):
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"a daemon exited with {proc.returncode} before it was ready")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5).read()
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise SystemExit("a daemon did not become ready") from None
                time.sleep(0.2)


def soak(
    workdir: Path,
    farm: Farm,
    config: Path,
    engine: Engine,
    daemons: int,
    seconds: float,
    interval: float,
    change: float,
    label: str,
) -> dict[str, Any]:
    # Nothing is due until the first round marks it: feeds left due by the previous run
    # would be claimed while the daemons start, and a fetch that began before the mark
    # would record itself after it (next due in an hour, fetched before the mark), so the
    # round would never complete.
    with engine.begin() as conn:
        conn.execute(
            update(Feed).values(
                next_due_at=datetime.now(UTC) + timedelta(days=1),
                lease_owner=None,
                lease_expires_at=None,
            )
        )
    ports = [free_port() for _ in range(daemons)]
    logs = [open(workdir / f"{label}-{i}.log", "w") for i in range(daemons)]  # noqa: SIM115
    # The daemons' database connections carry this name, so their backends' CPU is known.
    application = f"newsdigest-soak-{label}"
    env = {**os.environ, "PGAPPNAME": application}
    procs = [
        subprocess.Popen(
            cli(config, "run", "--http", f"127.0.0.1:{port}"),
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    samples: list[dict[str, Any]] = []
    load_start = load()
    base = farm.base
    rounds = Rounds(engine, base, change)
    try:
        wait_ready(ports, procs, timeout=120)
        http_json(f"{base}/stats/reset", "POST")
        started = time.monotonic()
        first = sample([p.pid for p in procs])
        farm0, busy0 = sample([farm.pid]).cpu, machine_busy()
        pg0 = backend_cpu(engine, application)
        rounds.start()
        next_sample = started + interval
        while (now := time.monotonic()) - started < seconds:
            rounds.poll()
            if now >= next_sample:
                next_sample += interval
                now_sample = sample([p.pid for p in procs])
                elapsed = now - started
                record = {
                    "bench": "soak",
                    "run": label,
                    "t_s": round(elapsed, 1),
                    "cpu_pct": round(100 * (now_sample.cpu - first.cpu) / elapsed, 1),
                    "rss_mb": round(now_sample.main_rss, 1),
                    "rss_tree_mb": round(now_sample.rss, 1),
                    "requests": http_json(f"{base}/stats")["requests"],
                    "rounds": rounds.completed,
                    **lag_quantiles([http_json(f"http://127.0.0.1:{p}/metrics") for p in ports]),
                }
                samples.append(record)
                emit(record)
            time.sleep(0.25)
        elapsed = time.monotonic() - started
        stats = http_json(f"{base}/stats")
        last = sample([p.pid for p in procs])
        farm1, busy1 = sample([farm.pid]).cpu, machine_busy()
        pg1 = backend_cpu(engine, application)
        claim_lag = lag_quantiles([http_json(f"http://127.0.0.1:{p}/metrics") for p in ports])
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
    # Growth after warm-up: from the sample a quarter into the run to the end.
    quarter = samples[len(samples) // 4] if len(samples) > 3 else None
    requests = stats["requests"]
    return {
        "bench": "soak_summary",
        "run": label,
        "daemons": daemons,
        "seconds": round(elapsed),
        "fetches_per_s": round(requests / elapsed, 1),
        "requests": requests,
        "by_status": stats["by_status"],
        "rounds": rounds.completed,
        "round_s": round(elapsed / rounds.completed, 1) if rounds.completed else None,
        # Of a round: the farm's change tick (nothing due), and fetches/s while feeds were
        # due (from the mark to the round's last fetch, completed rounds only).
        "farm_tick_s_per_round": round(rounds.tick_s / max(1, rounds.completed + 1), 2),
        "due_fetches_per_s": round(rounds.due_fetches / rounds.due_s, 1) if rounds.due_s else None,
        "cpu_pct": round(100 * (last.cpu - first.cpu) / elapsed, 1),
        # Each daemon's own process (event loop, writer, claims: one GIL), parse workers
        # apart: near 100% it is bound by that one core.
        "daemon_main_cpu_pct": [
            round(100 * (b - a) / elapsed, 1)
            for a, b in zip(first.main_cpu, last.main_cpu, strict=True)
        ],
        # CPU per fetch: the daemons' process trees, and the PostgreSQL backends serving them.
        "daemon_cpu_ms_per_fetch": round(1000 * (last.cpu - first.cpu) / requests, 3)
        if requests
        else None,
        "pg_cpu_pct": None if pg0 is None or pg1 is None else round(100 * (pg1 - pg0) / elapsed, 1),
        "pg_cpu_ms_per_fetch": None
        if pg0 is None or pg1 is None or not requests
        else round(1000 * (pg1 - pg0) / requests, 3),
        # The farm answers every fetch from one process on this machine too; the machine's
        # busy share says whether the run had a core left (2 cores: at most 200%).
        "farm_cpu_pct": round(100 * (farm1 - farm0) / elapsed, 1),
        "machine_busy_pct": round(100 * (busy1 - busy0) / elapsed, 1),
        # RSS of the daemons' own processes; the parse workers' come and go with batches.
        "rss_mb_first": round(first.main_rss, 1),
        "rss_mb_quarter": None if quarter is None else quarter["rss_mb"],
        "rss_mb_last": round(last.main_rss, 1),
        "rss_growth_after_warmup_mb": None
        if quarter is None
        else round(last.main_rss - quarter["rss_mb"], 1),
        "rss_tree_mb_first": round(first.rss, 1),
        "rss_tree_mb_last": round(last.rss, 1),
        "rss_tree_mb_peak": max((s["rss_tree_mb"] for s in samples), default=None),
        "lag_p50_s": quantile(rounds.lags, 0.5),
        "lag_p95_s": quantile(rounds.lags, 0.95),
        "claim_lag_p50_s": claim_lag["p50_s"],
        "claim_lag_p95_s": claim_lag["p95_s"],
        "load_average_start": load_start,
        "load_average_end": load(),
        "exit_codes": [p.returncode for p in procs],
    }


def postgres_schema(url: str) -> tuple[str, str]:
    schema = f"soak_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(url: str, schema: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def run_database(
    args: argparse.Namespace, farm: Farm, url: str, label: str, counts: Sequence[int]
) -> None:
    """Warm one database up, then one soak per daemon count on it."""
    # About ten batches a round, so every daemon gets some, as 10,000 feeds do at the
    # default of 500 (one batch of 500 would hold all of 300 feeds, a second daemon idle).
    batch = args.claim_batch or min(500, max(25, args.feeds // 10))
    config = write_config(args.workdir, url, label, batch, args.parse_workers)
    emit(warm_up(args.workdir, farm.base, config, label))
    engine = make_engine(url)  # SQLite: the project's busy timeout and WAL settings
    try:
        summaries = []
        for daemons in counts:
            summary = soak(
                args.workdir,
                farm,
                config,
                engine,
                daemons,
                args.seconds,
                args.interval,
                args.change,
                f"{label}-{daemons}",
            )
            summaries.append(summary)
            emit(summary)
        if len(summaries) > 1 and summaries[0]["fetches_per_s"]:
            emit(
                {
                    "bench": "soak_scale",
                    "runs": [s["run"] for s in summaries],
                    "ratio_to_first": [
                        round(s["fetches_per_s"] / summaries[0]["fetches_per_s"], 2)
                        for s in summaries
                    ],
                    "due_ratio_to_first": [
                        round(s["due_fetches_per_s"] / summaries[0]["due_fetches_per_s"], 2)
                        if s["due_fetches_per_s"] and summaries[0]["due_fetches_per_s"]
                        else None
                        for s in summaries
                    ],
                }
            )
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=600, help="measured seconds per run")
    parser.add_argument("--interval", type=float, default=10, help="seconds between samples")
    parser.add_argument("--change", type=float, default=0.05, help="share of feeds changed a round")
    parser.add_argument("--daemons", default="1,2", help="daemon counts to run, in order")
    parser.add_argument("--claim-batch", type=int, help="default: feeds / 10, 25 to 500")
    parser.add_argument("--parse-workers", type=int, help="fetch.parse_workers (default: its)")
    parser.add_argument("--quick", action="store_true", help="100 feeds, 30 s runs, 5 s samples")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite, one daemon only")
    parser.add_argument("--sqlite", action="store_true", help="also one daemon on SQLite")
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench-soak")
    args = parser.parse_args(argv)
    if args.quick:
        args.feeds, args.seconds, args.interval = 100, 30, 5
    counts = [int(n) for n in args.daemons.split(",")]
    if not FARM.exists():
        raise SystemExit(f"{FARM} is missing: the soak needs ../shared/bench/farm.py")
    args.workdir.mkdir(parents=True, exist_ok=True)
    for stale in args.workdir.glob("*.db*"):
        stale.unlink()
    emit(
        {
            "bench": "machine",
            "nproc": os.cpu_count(),
            "python": sys.version.split()[0],
            "feeds": args.feeds,
            "seconds": args.seconds,
            "change": args.change,
            "parse_workers": args.parse_workers,
            "load_average": load(),
            "commit": subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()
            or None,
        }
    )
    with farm(args.workdir, args.feeds) as the_farm:
        if args.sqlite or args.skip_postgres:
            run_database(args, the_farm, f"sqlite:///{args.workdir / 'soak.db'}", "sqlite", [1])
        if not args.skip_postgres:
            url, schema = postgres_schema(args.postgres)
            try:
                run_database(args, the_farm, url, "postgres", counts)
            finally:
                drop_schema(args.postgres, schema)
    return 0


if __name__ == "__main__":
    sys.exit(main())
