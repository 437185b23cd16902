"""What a page does in a real browser: the requests it makes, the scripts it runs.

Used by tests/test_hostile_render_browser.py. :class:`PageAuditor` loads pages in one
headless Chromium (Debian's, driven by Playwright: no browser download) and returns an
:class:`Audit` per page:

- every request the page made, with its resource type; requests to any host but the local
  server are aborted in the browser (counted, never sent), so nothing leaves the machine.
  A request the page's Content-Security-Policy blocks is reported too (Chromium fires the
  request event, then fails it with "csp"): a digest must not even try;
- every script the page's own JavaScript worlds parsed (CDP ``Debugger.scriptParsed``,
  enabled before navigation). Playwright's own helpers run in an isolated world and are
  left out, and the list is taken before this module asks the page anything;
- dialogs, popups, workers, websockets and navigations away from the page;
- what the loaded DOM still holds that could run or fetch: :func:`dom_problems`.

:meth:`Audit.problems` lists everything a digest must never do; a page whose only
requests are itself and images, with nothing else recorded, has none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import lxml.html

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Request, Route

#: Request types a digest may cause besides its own document.
ALLOWED_RESOURCE_TYPES = frozenset({"image"})
#: Attributes whose value is a URL (or a list of URLs) the browser may follow or fetch.
URL_ATTRIBUTES = frozenset(
    {
        "href", "src", "action", "formaction", "data", "poster", "background", "cite",
        "longdesc", "lowsrc", "dynsrc", "ping", "manifest", "codebase", "usemap", "srcset",
        "xlink:href", "{http://www.w3.org/1999/xlink}href", "imagesrcset", "archive",
    }
)  # fmt: skip
#: Elements that run, embed or fetch something, or change where links point.
ACTIVE_ELEMENTS = frozenset(
    {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "form",
     "portal", "noscript", "template", "svg", "math", "video", "audio", "source", "track"}
)  # fmt: skip
#: <link rel> values that are only metadata (no request is made for them).
PASSIVE_LINK_RELS = frozenset({"alternate", "canonical", "author", "license"})
#: Schemes that run script or carry a document when followed.
_ACTIVE_SCHEME = re.compile(r"^\s*(javascript|vbscript|data|livescript|mocha)\s*:", re.I)
_CSS_FETCH = re.compile(r"url\s*\(|@import|expression\s*\(|behavior\s*:|-moz-binding", re.I)
#: Characters browsers ignore inside a URL scheme ("java\tscript:").
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]")


def _url_values(name: str, value: str) -> list[str]:
    if name.endswith("srcset"):
        return [part.strip().split(" ", 1)[0] for part in value.split(",")]
    return [value]


def dom_problems(html: str) -> list[str]:
    """Everything in ``html`` (a loaded page's DOM) that could run script or fetch."""
    problems: list[str] = []
    root = lxml.html.document_fromstring(html)
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        local = tag.rsplit("}", 1)[-1].lower()
        if local in ACTIVE_ELEMENTS:
            problems.append(f"<{local}> element")
        if local == "meta" and (element.get("http-equiv") or "").lower() == "refresh":
            problems.append(f"<meta http-equiv=refresh content={element.get('content')!r}>")
        if local == "link":
            rels = set((element.get("rel") or "").lower().split())
            if not rels <= PASSIVE_LINK_RELS:
                problems.append(f"<link rel={element.get('rel')!r} href={element.get('href')!r}>")
        if local == "style" and _CSS_FETCH.search(element.text_content()):
            problems.append(f"<style> that fetches or runs: {element.text_content()[:80]!r}")
        for name, value in element.attrib.items():
            lname = name.lower()
            if lname.rsplit("}", 1)[-1].startswith("on"):
                problems.append(f"<{local} {name}={value[:80]!r}> event handler")
            elif lname == "style" and _CSS_FETCH.search(value):
                problems.append(f"<{local} style={value[:80]!r}>")
            elif lname == "srcdoc":
                problems.append(f"<{local} srcdoc=...>")
            elif lname in URL_ATTRIBUTES:
                for url in _url_values(lname, value):
                    if _ACTIVE_SCHEME.match(_IGNORED_IN_SCHEME.sub("", url)):
                        problems.append(f"<{local} {name}={url[:80]!r}> active URL")
    return problems


@dataclass
class Audit:
    """What one page did in the browser."""

    url: str
    #: (resource type, URL) of every request, in order, the page's own document included.
    requests: list[tuple[str, str]] = field(default_factory=list)
    #: URLs the browser asked for on hosts other than the local server (all aborted).
    external: list[str] = field(default_factory=list)
    #: Scripts parsed in the page's own worlds: (url or "(inline)", world type).
    scripts: list[tuple[str, str]] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    #: Popups, workers, websockets, navigations of the main frame away from the page.
    other: list[str] = field(default_factory=list)
    dom: list[str] = field(default_factory=list)
    #: The loaded DOM, serialized.
    html: str = ""

    @property
    def forbidden_requests(self) -> list[tuple[str, str]]:
        """Requests other than the page's own document and images."""
        return [
            (kind, url)
            for kind, url in self.requests
            if kind not in ALLOWED_RESOURCE_TYPES and not (kind == "document" and url == self.url)
        ]

    def problems(self) -> list[str]:
        """Everything the page must not do, one line each; empty for a safe page."""
        return [
            *(f"request ({kind}): {url}" for kind, url in self.forbidden_requests),
            *(f"script ran: {url} ({world})" for url, world in self.scripts),
            *(f"dialog: {text}" for text in self.dialogs),
            *self.other,
            *(f"DOM: {p}" for p in self.dom),
        ]


class PageAuditor:
    """Loads pages served by ``origin`` (http://127.0.0.1:port) in ``browser``, one by one."""

    def __init__(self, browser: Browser, origin: str) -> None:
        self.browser = browser
        self.origin = origin.rstrip("/")

    def _local(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.origin

    def audit(self, path: str, *, timeout_ms: float = 30_000) -> Audit:
        url = f"{self.origin}/{path.lstrip('/')}"
        audit = Audit(url)
        # JavaScript stays on, so that anything that could run would. (No other context
        # option: service_workers="block", for one, is an init script in the page's world.)
        context = self.browser.new_context(java_script_enabled=True)
        try:
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            cdp = context.new_cdp_session(page)
            parsed: list[dict[str, Any]] = []
            cdp.on("Debugger.scriptParsed", lambda event: parsed.append(event))
            cdp.send("Debugger.enable")

            def route(route: Route) -> None:
                if self._local(route.request.url):
                    route.continue_()
                else:
                    audit.external.append(route.request.url)
                    route.abort()

            def on_request(request: Request) -> None:
                audit.requests.append((request.resource_type, request.url))

            def on_navigated(frame: Any) -> None:
                if frame == page.main_frame and frame.url != url:
                    audit.other.append(f"navigated to {frame.url}")

            def on_dialog(dialog: Any) -> None:
                audit.dialogs.append(f"{dialog.type}: {dialog.message}")
                dialog.dismiss()

            context.route("**/*", route)
            page.on("request", on_request)
            page.on("dialog", on_dialog)
            page.on("framenavigated", on_navigated)
            page.on("popup", lambda p: audit.other.append(f"popup {p.url}"))
            page.on("worker", lambda w: audit.other.append(f"worker {w.url}"))
            page.on("websocket", lambda w: audit.other.append(f"websocket {w.url}"))
            response = page.goto(url, wait_until="networkidle")
            assert response is not None and response.ok, f"{url} did not load"
            # Taken before anything below asks the page (Playwright runs its own helpers
            # in an isolated world; only the page's default world counts).
            audit.scripts = [
                (event.get("url") or "(inline)", aux.get("type", "?"))
                for event in list(parsed)
                if (aux := event.get("executionContextAuxData") or {}).get("type") != "isolated"
            ]
            audit.html = page.content()
            audit.dom = dom_problems(audit.html)
        finally:
            context.close()
        return audit
