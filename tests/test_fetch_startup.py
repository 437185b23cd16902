"""`newsdigest fetch` loads only what the round needs: a CLI start and a round of 304s import
none of the heavy modules (the parser, the tagger, numpy, the digest side, Alembic...).

Each check runs in a fresh interpreter and reads its ``sys.modules``: an import added at the
top of a module on the fetch path makes these fail, whatever the machine's speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ROOT = Path(__file__).resolve().parent.parent

#: Loaded only by a path that needs them (parsing a body, storing entries, digests, the
#: daemon, full text, migrations).
HEAVY = (
    "feedparser",
    "trafilatura",
    "lxml",
    "numpy",
    "pycountry",
    "tldextract",
    "alembic",
    "ingest.tagging",
    "ingest.parse",
    "ingest.normalize",
    "ingest.store",
    "prometheus_client",
    "apscheduler",
    "jinja2",
    "css_inline",
    "digest.archive",
    "digest.compose",
    "digest.render",
    "newsdigest.digest_job",
)

FEED = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
    b"<item><guid>1</guid><title>Un titre</title><link>https://news.example/1</link>"
    b"<description>Texte.</description></item></channel></rss>"
)
ETAG = '"v1"'


def heavy_modules_after(code: str, cwd: Path = ROOT) -> list[str]:
    """Run ``code`` in a fresh interpreter; the heavy modules it left in sys.modules."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        "if any(m == h or m.startswith(h + '.') for h in heavy))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    loaded: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_cli_and_the_fetch_path_loads_no_heavy_module() -> None:
    assert heavy_modules_after("import newsdigest.cli, newsdigest.app, ingest.pipeline") == []


def test_the_probe_sees_a_heavy_import() -> None:
    # The check above can fail: importing the store does load numpy and the normalizer.
    loaded = heavy_modules_after("import ingest.store")
    assert "numpy" in loaded and "ingest.normalize" in loaded


def _conditional(request: Request) -> Response:
    if request.headers.get("If-None-Match") == ETAG:
        return Response(status=304, headers={"ETag": ETAG})
    return Response(FEED, content_type="application/rss+xml", headers={"ETag": ETAG})


def test_a_round_of_304s_loads_no_parser_tagger_or_store(
    tmp_path: Path, database_url: str, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/feed").respond_with_handler(_conditional)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: '{database_url}'\n"
        "fetch:\n  allow_private_networks: true\n  parse_workers: 0\n  timeout: 5\n"
        "outlets:\n"
        f"  - name: Example\n    feeds: ['{httpserver.url_for('/feed')}']\n"
    )
    fetch = (
        "from newsdigest.cli import main\n"
        f"code = main(['--config', {str(config)!r}, 'fetch', '--all'])\n"
        "assert code == 0, code\n"
    )
    # The first round stores the entry (and needs the parser and the store) ...
    assert "feedparser" in heavy_modules_after(fetch, cwd=tmp_path)
    # ... the second gets a 304 and loads none of them.
    assert heavy_modules_after(fetch, cwd=tmp_path) == []
    statuses = [response.status_code for _, response in httpserver.log]
    assert statuses == [200, 304]
