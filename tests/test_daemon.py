"""`newsdigest run` as a user runs it: a real process, real signals, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.conftest import SEEDS


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(tmp_path: Path, database_url: str, feeds: list[str], extra: str = "") -> Path:
    outlets = "".join(f"  - name: Outlet {i}\n    feeds: ['{u}']\n" for i, u in enumerate(feeds))
    path = tmp_path / "config.yaml"
    path.write_text(
        f"database: '{database_url}'\n"
        "fetch:\n  allow_private_networks: true\n  parse_workers: 0\n  timeout: 5\n"
        "daemon:\n  fetch_tick_seconds: 1\n  digest_tick_seconds: 3600\n"
        "  shutdown_timeout_seconds: 10\n  log_format: json\n"
        f"output:\n  directory: {tmp_path / 'out'}\n"
        f"outlets:\n{outlets}{extra}",
        encoding="utf-8",
    )
    return path


class Daemon:
    """A `newsdigest run` subprocess whose log goes to a file we can watch."""

    def __init__(self, config: Path, *args: str, name: str = "daemon") -> None:
        self.log_path = config.parent / f"{name}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "newsdigest.cli", "--config", str(config), "run", *args],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            text=True,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def wait_started(self) -> None:
        wait_for(lambda: "started" in self.log or self.proc.poll() is not None, timeout=60)
        assert self.proc.poll() is None, self.log

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log.close()
        return code


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def _processes_running(needle: str) -> list[str]:
    """Command lines of live processes that mention ``needle``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if needle in cmdline:
                found.append(cmdline)
    return found


@pytest.fixture
def feeds(httpserver: HTTPServer) -> list[str]:
    urls = []
    for path in sorted((SEEDS / "snapshots").glob("*.xml"))[:3]:
        httpserver.expect_request(f"/{path.name}").respond_with_data(
            path.read_bytes(), content_type="application/xml"
        )
        urls.append(httpserver.url_for(f"/{path.name}"))
    return urls


@pytest.fixture
def daemon_config(tmp_path: Path, database_url: str, feeds: list[str]) -> Iterator[Path]:
    yield write_config(tmp_path, database_url, feeds)


def test_run_fetches_serves_health_and_stops_cleanly_on_sigterm(
    daemon_config: Path, feeds: list[str]
) -> None:
    port = free_port()
    daemon = Daemon(daemon_config, "--http", f"127.0.0.1:{port}")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: get(f"{base}/healthz")[0] == 200)
        wait_for(lambda: "newsdigest_entries_ingested_total" in get(f"{base}/metrics")[1])
        wait_for(lambda: 'newsdigest_fetches_total{status="ok"} 3.0' in get(f"{base}/metrics")[1])
        status, body = get(f"{base}/readyz")
        assert (status, body.strip()) == (200, "ready")
        assert get(f"{base}/nope")[0] == 404
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log
    # Its parse workers went with it.
    wait_for(lambda: not _processes_running(str(daemon_config)), timeout=15)
    records = [json.loads(line) for line in daemon.log.splitlines() if line.startswith("{")]
    messages = [r["message"] for r in records]
    assert any(m.startswith("fetched 3 feeds") for m in messages)
    assert any(m.endswith("stopped") for m in messages)
    from newsdigest.cli import main

    assert main(["--config", str(daemon_config), "articles", "list", "--json"]) == 0


def test_a_second_daemon_on_one_sqlite_file_refuses_to_start(
    tmp_path: Path, sqlite_url: str, feeds: list[str]
) -> None:
    config = write_config(tmp_path, sqlite_url, feeds)
    first = Daemon(config, name="first")
    try:
        first.wait_started()
        second = Daemon(config, name="second")
        assert second.stop(signal.SIGCONT) == 2  # it exits by itself; SIGCONT is harmless
        assert "another newsdigest daemon" in second.log
        assert "one daemon per database file" in second.log
    finally:
        assert first.stop() == 0


def test_sighup_with_a_broken_config_keeps_the_old_one(
    tmp_path: Path, sqlite_url: str, feeds: list[str]
) -> None:
    config = write_config(tmp_path, sqlite_url, feeds)
    daemon = Daemon(config)
    try:
        daemon.wait_started()
        good = config.read_text(encoding="utf-8")
        config.write_text(good + "nonsense_key: 1\n", encoding="utf-8")
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "keeping the old one" in daemon.log)
        assert daemon.proc.poll() is None
        assert "nonsense_key: unknown key" in daemon.log
        config.write_text(good, encoding="utf-8")
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in daemon.log)
    finally:
        assert daemon.stop() == 0


def test_every_job_of_the_daemon_runs(
    tmp_path: Path, database_url: str, feeds: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each scheduled job, called as the scheduler calls it, does its work without error."""
    from newsdigest.config import load_config
    from newsdigest.daemon import Daemon as InProcess

    monkeypatch.setenv("NEWSDIGEST_SECRET", "a-test-secret-of-enough-length")
    config = load_config(
        write_config(
            tmp_path,
            database_url,
            feeds,
            "smtp:\n  backend: outbox\nsubscribers:\n  - email: me@example.org\n",
        )
    )
    daemon = InProcess(config)
    try:
        for job in ("fetch", "digest", "fulltext", "prune"):
            daemon._guarded(job, getattr(daemon, f"{job}_tick"))()
            assert daemon.metrics.tick_errors.labels(job=job)._value.get() == 0, job
            assert daemon.metrics.ticks.labels(job=job)._value.get() == 1
        exposition = daemon.metrics.exposition().decode()
        assert 'newsdigest_fetches_total{status="ok"} 3.0' in exposition
        with daemon.app.session() as session:
            from ingest import store

            assert store.count_leases(session, now=daemon.clock()) == {}
            assert store.count_articles(session) > 0
    finally:
        daemon.app.close()


def test_run_refuses_to_start_when_digests_cannot_be_signed(
    tmp_path: Path, sqlite_url: str, feeds: list[str]
) -> None:
    config = write_config(tmp_path, sqlite_url, feeds, "subscribers:\n  - email: me@example.org\n")
    env = {k: v for k, v in os.environ.items() if k != "NEWSDIGEST_SECRET"}
    proc = subprocess.run(
        [sys.executable, "-m", "newsdigest", "--config", str(config), "run"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2
    assert "cannot send digests: no secret to sign unsubscribe links" in proc.stderr
    assert "NEWSDIGEST_SECRET" in proc.stderr
