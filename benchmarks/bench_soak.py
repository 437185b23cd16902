"""Soak benchmark (issue 8): `newsdigest run` left alone against the feed farm.

One daemon on SQLite follows N farm feeds (20 ms latency, 50 loopback hosts) that are
due every minute, while the farm changes 5% of its feeds every tick, for a while. Every
few seconds it samples the daemon's CPU (its whole process tree: the parse workers
count) and RSS, and reads the schedule lag histogram from /metrics. Then the same with
two daemons on PostgreSQL, to see that throughput scales.

    .venv/bin/python benchmarks/bench_soak.py                  # 10,000 feeds, 10 minutes
    .venv/bin/python benchmarks/bench_soak.py --quick          # 500 feeds, 1 minute

Prints one JSON object a line; the last ones are the summaries.
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
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FARM = ROOT.parent / "shared" / "bench" / "farm.py"
PY = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


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


@contextmanager
def farm(workdir: Path, feeds: int) -> Iterator[str]:
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
        yield ready.read_text().strip().rstrip("/")
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


def sample(pids: list[int]) -> tuple[float, float]:
    """CPU seconds used so far and RSS in MB, summed over the process trees."""
    cpu = rss = 0.0
    for root in pids:
        for p in tree(root):
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            cpu += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
            rss += int(fields[21]) * PAGE / 1e6
    return cpu, rss


_BUCKET = re.compile(r'newsdigest_schedule_lag_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)')


def lag_quantiles(metrics_text: str) -> dict[str, float | None]:
    """p50 and p95 of the schedule lag, from the histogram's cumulative buckets."""
    buckets = [
        (float("inf") if le == "+Inf" else float(le), float(n))
        for le, n in _BUCKET.findall(metrics_text)
    ]
    if not buckets or buckets[-1][1] == 0:
        return {"p50_s": None, "p95_s": None}
    total = buckets[-1][1]
    out: dict[str, float | None] = {}
    for name, q in (("p50_s", 0.5), ("p95_s", 0.95)):
        out[name] = next(le for le, n in buckets if n >= q * total)
    return out


def write_config(workdir: Path, database: str, name: str) -> Path:
    path = workdir / f"{name}.yaml"
    path.write_text(
        f"database: '{database}'\n"
        "fetch:\n  allow_private_networks: true\n  default_interval_minutes: 1\n"
        "  min_interval_minutes: 1\n  max_interval_minutes: 1\n"
        "daemon:\n  fetch_tick_seconds: 5\n  digest_tick_seconds: 3600\n"
        "  fulltext_tick_seconds: 3600\n  lease_seconds: 120\n",
        encoding="utf-8",
    )
    return path


def soak(
    workdir: Path,
    base: str,
    database: str,
    daemons: int,
    seconds: float,
    interval: float,
    label: str,
) -> dict[str, Any]:
    config = write_config(workdir, database, label)
    opml = workdir / "feeds.opml"
    opml.write_bytes(urllib.request.urlopen(f"{base}/feeds.opml", timeout=60).read())
    subprocess.run(
        [PY, "-m", "newsdigest", "--config", str(config), "feeds", "import", str(opml)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    ports = [free_port() for _ in range(daemons)]
    logs = [open(workdir / f"{label}-{i}.log", "w") for i in range(daemons)]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [PY, "-m", "newsdigest", "--config", str(config), "run", "--http", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    http_json(f"{base}/stats/reset", "POST")
    started = time.monotonic()
    cpu0, _ = sample([p.pid for p in procs])
    samples = []
    try:
        while time.monotonic() - started < seconds:
            time.sleep(interval)
            http_json(f"{base}/tick?fraction=0.05", "POST")
            cpu, rss = sample([p.pid for p in procs])
            elapsed = time.monotonic() - started
            metrics = "".join(http_json(f"http://127.0.0.1:{port}/metrics") for port in ports)
            record = {
                "bench": "soak",
                "run": label,
                "t_s": round(elapsed, 1),
                "cpu_pct": round(100 * (cpu - cpu0) / elapsed, 1),
                "rss_mb": round(rss, 1),
                "requests": http_json(f"{base}/stats")["requests"],
                **lag_quantiles(metrics),
            }
            samples.append(record)
            emit(record)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=120)
        for log in logs:
            log.close()
    stats = http_json(f"{base}/stats")
    first, last = samples[0], samples[-1]
    rss_growth = last["rss_mb"] - samples[len(samples) // 4]["rss_mb"] if len(samples) > 3 else None
    return {
        "bench": "soak_summary",
        "run": label,
        "daemons": daemons,
        "seconds": round(last["t_s"]),
        "fetches_per_s": round(stats["requests"] / last["t_s"], 1),
        "by_status": stats["by_status"],
        "cpu_pct": last["cpu_pct"],
        "rss_mb_first": first["rss_mb"],
        "rss_mb_last": last["rss_mb"],
        "rss_growth_after_warmup_mb": None if rss_growth is None else round(rss_growth, 1),
        "lag_p50_s": last["p50_s"],
        "lag_p95_s": last["p95_s"],
        "exit_codes": [p.returncode for p in procs],
    }


def postgres_schema(url: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    schema = f"soak_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{url}?options=-csearch_path%3D{schema}", schema


def drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--interval", type=float, default=10, help="seconds between samples")
    parser.add_argument("--quick", action="store_true", help="500 feeds, 60 s, 5 s samples")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "bench-soak")
    args = parser.parse_args(argv)
    if args.quick:
        args.feeds, args.seconds, args.interval = 500, 60, 5
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
            "load_average": os.getloadavg(),
        }
    )
    with farm(args.workdir, args.feeds) as base:
        emit(
            soak(
                args.workdir,
                base,
                f"sqlite:///{args.workdir / 'soak.db'}",
                1,
                args.seconds,
                args.interval,
                "sqlite-1",
            )
        )
        if not args.skip_postgres:
            url, schema = postgres_schema(args.postgres)
            try:
                for daemons in (1, 2):
                    emit(
                        soak(
                            args.workdir,
                            base,
                            url,
                            daemons,
                            args.seconds,
                            args.interval,
                            f"postgres-{daemons}",
                        )
                    )
                    drop_schema(args.postgres, schema)
                    url, schema = postgres_schema(args.postgres)
            finally:
                drop_schema(args.postgres, schema)
    return 0


if __name__ == "__main__":
    sys.exit(main())
