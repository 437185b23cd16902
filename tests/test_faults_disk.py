"""Fault: the output folder's disk is full during `digest build` and `digest send`.

How the full disk is made: each command runs in a private mount namespace (``unshare
--mount``, plus ``--user --map-root-user`` when not root) where the output folder is a
64 KB tmpfs already filled to its last 4 KB. The mount dies with the process, so nothing
is left mounted on the machine whatever happens. Where namespaces are not allowed (some
containers) the test is skipped with the reason: RLIMIT_FSIZE was considered and not
used, because it limits every file the process writes, the SQLite database included, and
reports EFBIG rather than ENOSPC.

What must hold: the command fails with one clear line naming the folder and the cause
(no traceback), leaves no half-written file behind, and the delivery ledger does not say
"sent"; once there is room, the next `digest send` delivers the digest, once.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer
from sqlalchemy import update
from sqlalchemy.orm import Session

from digest.models import Subscriber
from ingest.models import Article
from newsdigest.cli import main
from newsdigest.db import open_database
from tests.conftest import ROOT
from tests.test_cli import serve_snapshots

SECRET = "a-test-secret-that-is-long-enough-0123456789"
EMAIL = "reader@example.org"
#: The script run inside the namespace: mount a tiny tmpfs on the folder, fill it but
#: for 4 KB, run the command, then list the files it left (not the filler).
_FULL_DISK = """
set -e
folder=$1; shift
mount -t tmpfs -o size=64k tmpfs "$folder"
dd if=/dev/zero of="$folder/.filler" bs=1024 count=60 2>/dev/null
set +e
"$@"
code=$?
echo "@@files"
cd "$folder" && find . -type f ! -name .filler | sort
exit $code
"""


_PROBE = """
d=$(mktemp -d) || exit 1
mount -t tmpfs -o size=4k tmpfs "$d" && umount "$d"
code=$?
rmdir "$d"
exit $code
"""


@functools.cache
def _unshare() -> list[str] | None:
    """The unshare command that gives this process a mount namespace, or None."""
    if shutil.which("unshare") is None:
        return None
    if os.geteuid() == 0:
        command = ["unshare", "--mount", "--propagation", "private"]
    else:
        command = ["unshare", "--user", "--map-root-user", "--mount"]
    probe = subprocess.run(
        [*command, "sh", "-c", _PROBE],
        capture_output=True,
        timeout=30,
    )
    return command if probe.returncode == 0 else None


def on_a_full_disk(folder: Path, *args: str) -> tuple[int, str, list[str]]:
    """Run the CLI with ``folder`` on a nearly full disk: exit code, stderr, files left."""
    unshare = _unshare()
    if unshare is None:
        pytest.skip("cannot mount a tmpfs in a private mount namespace here (unshare)")
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [*unshare, "sh", "-c", _FULL_DISK, "full-disk", str(folder), *_cli(*args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
        cwd=ROOT,
    )
    output, _, files = done.stdout.rpartition("@@files\n")
    assert output or done.stdout.startswith("@@files"), done.stdout + done.stderr
    return done.returncode, done.stderr, [f for f in files.splitlines() if f]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "newsdigest.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "NEWSDIGEST_SECRET": SECRET, "PYTHONPATH": str(ROOT)}


@pytest.fixture
def setup(tmp_path: Path, httpserver: HTTPServer) -> tuple[Path, Path, str]:
    """A config whose store holds the seed snapshots' articles and one due subscriber.

    Returns the config path, the output folder and the database URL.
    """
    out = tmp_path / "out"
    url = f"sqlite:///{tmp_path / 'news.db'}"
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": url,
                "fetch": {"allow_private_networks": True, "parse_workers": 0, "timeout": 10},
                "output": {"directory": str(out)},
                "smtp": {"backend": "outbox", "from": "Новости <news@example.org>"},
                "public_url": "https://news.example.org/digest",
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    for address in serve_snapshots(httpserver).values():
        assert main(["--config", str(config), "feeds", "add", address]) == 0
    assert main(["--config", str(config), "fetch"]) == 0
    # A subscriber who joined three days ago, due at 00:00 UTC: today's digest is due.
    # The articles were first seen inside both its period (the day before the last
    # 00:00) and a build's window (the last 24 hours), so both have stories to write.
    now = datetime.now(UTC)
    period_end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    seen = now - timedelta(days=1) + (period_end - (now - timedelta(days=1))) / 2
    engine = open_database(url)
    joined = now - timedelta(days=3)
    with Session(engine) as session, session.begin():
        session.execute(update(Article).values(first_seen_at=seen))
        session.add(
            Subscriber(
                email=EMAIL,
                name="Λίνα",
                timezone="UTC",
                send_at="00:00",
                created_at=joined,
                updated_at=joined,
            )
        )
    engine.dispose()
    return config, out, url


def _one_clear_line(stderr: str, folder: Path) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert str(folder) in lines[0]
    assert "No space left on device" in lines[0]


def _deliveries(config: Path) -> list[dict[str, object]]:
    listing = subprocess.run(
        [*_cli("--config", str(config), "deliveries", "list", "--json")],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        cwd=ROOT,
    )
    assert listing.returncode == 0, listing.stderr
    return [json.loads(line) for line in listing.stdout.splitlines() if line.strip()]


def test_digest_build_on_a_full_disk_fails_clearly_and_leaves_no_partial_file(
    setup: tuple[Path, Path, str],
) -> None:
    config, out, _ = setup
    code, stderr, files = on_a_full_disk(out, "--config", str(config), "digest", "build")
    assert code != 0
    _one_clear_line(stderr, out)
    assert not [f for f in files if ".tmp" in f], files  # no half-written page
    # With room again, the same build works.
    assert main(["--config", str(config), "digest", "build"]) == 0
    assert list(out.glob("digests/*/*.html"))


def test_digest_send_to_a_full_outbox_is_not_recorded_as_sent(
    setup: tuple[Path, Path, str],
) -> None:
    config, out, _ = setup
    outbox = out / "outbox"
    code, stderr, files = on_a_full_disk(outbox, "--config", str(config), "digest", "send")
    assert code != 0, (stderr, files, _deliveries(config))
    _one_clear_line(stderr, outbox)
    assert files == []  # neither a message nor a temporary file
    [row] = _deliveries(config)
    assert row["subscriber"] == EMAIL
    assert row["status"] != "sent"

    # Once there is room, the next run delivers that digest, once.
    again = subprocess.run(
        _cli("--config", str(config), "digest", "send"),
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        cwd=ROOT,
    )
    assert again.returncode == 0, again.stderr
    [row] = _deliveries(config)
    assert row["status"] == "sent"
    assert row["stories"]
    assert len(list(outbox.glob("*.eml"))) == 1
