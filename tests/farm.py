"""The feed farm of ../shared/bench (farm.py) as a test fixture: a real HTTP server of
hundreds of feeds with ETags, latency and optional faults."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import shared_path


@contextmanager
def run_farm(tmp_path: Path, *args: str) -> Iterator[str]:
    """Start farm.py on a free port; yield its base URL; stop it."""
    farm = shared_path("bench", "farm.py")
    ready = tmp_path / "farm.url"
    log = (tmp_path / "farm.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(farm),
            "--port",
            "0",
            "--ready-file",
            str(ready),
            "--max-seconds",
            "900",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() or not ready.read_text().strip():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the farm did not start: {proc.stderr.read() if proc.stderr else ''}"
                )
            time.sleep(0.1)
        yield ready.read_text().strip().rstrip("/")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def farm_stats(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/stats", timeout=10) as response:
        return json.loads(response.read())


def farm_post(base: str, path: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{base}{path}", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def farm_opml(base: str, dest: Path) -> Path:
    with urllib.request.urlopen(f"{base}/feeds.opml", timeout=30) as response:
        dest.write_bytes(response.read())
    return dest
