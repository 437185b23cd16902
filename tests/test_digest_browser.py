"""A real browser loads the digest page and the email HTML.

Headless Chromium (Debian's ``chromium``) parses what we render, shows it, and saves
screenshots under ``test-artifacts/digest/`` (git-ignored) for a human to look at. Skipped
when Chromium is absent, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.html
import pytest

from digest.compose import compose
from digest.render import Renderer
from digest.types import Digest, DigestArticle, Limits, SubscriberPrefs

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "digest"
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
START = datetime(2025, 1, 9, 4, tzinfo=UTC)
END = START + timedelta(days=1)


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; CI must install it (apt-get install chromium)")
        pytest.skip("chromium is not installed: apt-get install -y chromium (CI installs it)")
    return path


def run_chromium(tmp_path: Path, url: str, *args: str) -> str:
    """Chromium's stdout for one headless load of ``url``."""
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(tmp_path: Path, page: Path, name: str, size: str, *extra: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    target.unlink(missing_ok=True)
    run_chromium(
        tmp_path,
        page.as_uri(),
        f"--screenshot={target}",
        f"--window-size={size}",
        "--hide-scrollbars",
        *extra,
    )
    assert target.stat().st_size > 1000, f"{target} is empty"
    return target


def article(id: int, title: str, outlet: str, story: int | None, **kw) -> DigestArticle:
    at = START + timedelta(hours=id)
    return DigestArticle(
        id=id, story_id=story, title=title, url=f"https://{outlet.lower()}.example/{id}",
        outlet=outlet, outlet_id=id, published=at, first_seen=at, **kw,
    )  # fmt: skip


@pytest.fixture(scope="module")
def digest() -> Digest:
    me = {"countries": ("IQ", "IR"), "regions": ("Middle East",), "topics": ("diplomacy",)}
    articles = [
        article(1, "Iraqi Prime Minister visits Tehran", "Alpha", 7,
                summary="The two governments signed agreements on trade and security. " * 3,
                **me),
        article(2, "رئيس الوزراء العراقي يزور طهران", "Beta", 7, language="ar", **me),
        article(3, "سفر نخست وزیر عراق به تهران", "Gamma", 7, language="fa", **me),
        article(4, HOSTILE, "Delta", None, countries=("IQ",), regions=("Middle East",)),
        article(5, "Élections municipales : le second tour", "Epsilon", None, language="fr",
                countries=("FR",), regions=("Western Europe",), topics=("politics",)),
        article(6, "東京で国際会議が開かれる", "Zeta", None, language="ja",
                countries=("JP",), regions=("Eastern Asia",), topics=("diplomacy",)),
    ]  # fmt: skip
    prefs = SubscriberPrefs(
        email="reader@example.org",
        name="Reader",
        timezone="Asia/Baghdad",
        regions=("Middle East",),
        limits=Limits(per_section=5, total=20),
    )
    return compose(
        articles, prefs, (START, END), region_countries={"Middle East": {"IQ", "IR"}}, now=END
    )


def test_page_in_a_browser(tmp_path, digest):
    page = tmp_path / "page.html"
    page.write_text(Renderer().page(digest), encoding="utf-8")
    dom = lxml.html.fromstring(run_chromium(tmp_path, page.as_uri(), "--dump-dom"))
    assert [h.text_content() for h in dom.xpath("//section/h2")] == ["Middle East"]
    headlines = [h.text_content().strip() for h in dom.xpath("//article/h3")]
    assert headlines == [
        "Iraqi Prime Minister visits Tehran",
        HOSTILE,
    ]
    assert dom.xpath("//img | //script") == []
    sources = [a.text_content() for a in dom.xpath("//article[1]//div[@class='sources']//a")]
    assert sources == ["Beta", "Gamma"]
    screenshot(tmp_path, page, "page-phone.png", "390,1200")
    screenshot(tmp_path, page, "page-desktop.png", "1280,1000")
    screenshot(tmp_path, page, "page-desktop-dark.png", "1280,1000", "--force-dark-mode")


# Appended to a copy of the email for measuring only: the email itself carries no script.
MEASURE = """<script>
const box = document.querySelector('table.container');
const widths = [...box.querySelectorAll('*')].map(e => e.getBoundingClientRect().width);
const out = document.createElement('pre');
out.id = 'measure';
out.textContent = JSON.stringify({
  container: box.getBoundingClientRect().width,
  widest: Math.max(...widths),
  text: document.body.innerText,
});
document.body.appendChild(out);
</script>"""


def test_email_in_a_browser(tmp_path, digest):
    html = Renderer().email_html(digest, unsubscribe_url="https://example.org/u/1")
    email = tmp_path / "email.html"
    email.write_text(html, encoding="utf-8")
    measured = tmp_path / "email-measured.html"
    measured.write_text(html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = lxml.html.fromstring(
        run_chromium(tmp_path, measured.as_uri(), "--dump-dom", "--window-size=1280,1000")
    )
    (pre,) = dom.xpath("//pre[@id='measure']")
    facts = json.loads(pre.text_content())
    assert facts["container"] <= 600
    assert facts["widest"] <= 600
    shown = facts["text"]
    assert "Iraqi Prime Minister visits Tehran" in shown and HOSTILE in shown
    assert "Also reported by" in shown and "Unsubscribe" in shown
    # The preheader is for the inbox list, not for the message body.
    assert digest.preheader not in shown
    assert [s for s in dom.xpath("//script") if "measure" not in s.text_content()] == []
    screenshot(tmp_path, email, "email.png", "800,1400")
    screenshot(tmp_path, email, "email-phone.png", "390,1400")
