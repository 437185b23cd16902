"""A composed :class:`~digest.types.Digest` as a web page, an HTML email, plain text and a
MIME message.

Templates are Jinja2 files in ``digest/templates/``; a directory given to
:class:`Renderer` overrides them file by file (it is searched first). HTML templates are
autoescaped and every template runs with ``StrictUndefined``. The constructor compiles
every template and renders a sample digest through the three outputs, so a broken or
missing template raises :class:`~digest.errors.TemplateError` (file and line) at start-up
instead of at the first send.

Each story is rendered once and reused across subscribers: the templates call
``fragment("_story.html", item, zone)`` and the renderer caches the result (for the email,
with its CSS already inlined), so composing thousands of digests renders each story a
handful of times. A fragment is rendered once for every time zone: the zone it gets then
is a stand-in whose ``localtime`` is a unique token, replaced by each zone's label
afterwards. A template that uses the zone any other way (prints it, converts with it) or
transforms the label is noticed (the stand-in refuses, a token goes missing, or the sample
digest renders differently at start-up) and is rendered once per zone instead. In plain
text, a wrapped line holding a label is kept only when it fits with the longest label;
otherwise that story is rendered per zone. ``Renderer(shared=False)`` renders everything
directly, the reference the tests compare with. Fragments are autoescaped like the rest
of the page.

Usage::

    renderer = Renderer(config.template_dir)     # None: the packaged templates only
    html = renderer.page(digest)
    msg = renderer.email_message(digest, "News <news@example.org>", prefs.email,
                                 message_id=make_msgid(), date=now)
"""

from __future__ import annotations

import functools
import secrets
import textwrap
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import css_inline
import jinja2
import markupsafe

from digest.compose import compose
from digest.errors import DigestError, TemplateError
from digest.types import Digest, DigestArticle, DigestItem, Limits, SubscriberPrefs
from digest.window import load_zone

#: Templates every template folder must end up providing (override or package).
REQUIRED_TEMPLATES = ("page.html", "email.html", "email.txt")
#: Files in a template folder that are templates; anything else there is ignored.
TEMPLATE_SUFFIXES = (".html", ".txt", ".css")
TEXT_WIDTH = 72
EMAIL_MAX_WIDTH = 600
#: Story fragments kept across digests; the cache is emptied when it grows past this.
FRAGMENT_CACHE_SIZE = 50_000
#: The email's story fragment, whose CSS is inlined on its own (see email_html).
EMAIL_FRAGMENT = "_story_email.html"

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SAFE_SCHEMES = frozenset({"http", "https"})


class _ConfinedLoader(jinja2.FileSystemLoader):
    """A FileSystemLoader that refuses files resolving outside its folder.

    Jinja already refuses ``..`` in template names; this also stops a symlink in the
    override folder from pulling in a file from elsewhere.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self._root = root.resolve()

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if not Path(filename).resolve().is_relative_to(self._root):
            raise TemplateError(
                f"resolves outside the template folder {self._root}; "
                "copy the file into the folder instead of linking it",
                filename,
            )
        return source, filename, uptodate


def _weekday_day_month(d: date) -> str:
    return f"{_WEEKDAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]}"


@functools.lru_cache(maxsize=4096)
def _localtime(value: datetime, zone: tzinfo) -> str:
    """ "Fri 10 Jan, 08:15" in the subscriber's zone (fixed English labels, not the locale)."""
    local = value.astimezone(zone)
    return f"{_weekday_day_month(local.date())}, {local:%H:%M}"


class _ZoneUsed(Exception):
    """A fragment template used the stand-in zone other than through ``localtime``."""


class _AnyZone(tzinfo):
    """The zone a zone-free fragment is rendered with: ``localtime`` gives a token per call.

    Anything else a template could do with a zone (convert with it, print it) raises
    :class:`_ZoneUsed`, so the renderer falls back to one rendering per zone.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        #: (token, datetime) of each ``localtime`` call of the current rendering.
        self.calls: list[tuple[str, datetime]] = []

    def token(self, value: datetime) -> str:
        token = f"{self.prefix}{len(self.calls)}\ue001"
        self.calls.append((token, value))
        return token

    def utcoffset(self, dt: datetime | None) -> timedelta:
        raise _ZoneUsed

    def dst(self, dt: datetime | None) -> timedelta:
        raise _ZoneUsed

    def tzname(self, dt: datetime | None) -> str:
        raise _ZoneUsed

    def __str__(self) -> str:
        raise _ZoneUsed

    def __repr__(self) -> str:
        return "<any zone>"


class _PerZone(Exception):
    """This story's fragment must be rendered per zone: a line that holds its time label
    might wrap differently with a longer label."""


#: The stand-in zone of the zone-free rendering under way, for the wrap filter.
_ZONE_FREE: ContextVar[_AnyZone | None] = ContextVar("zone_free", default=None)
#: The longest label _localtime gives ("Wed 31 Dec, 23:59").
LABEL_MAX = 17


def _wrap_filter(text: str, width: int = TEXT_WIDTH, indent: str = "") -> str:
    """:func:`_wrap`; in a zone-free rendering, a line holding time tokens is kept when it
    fits with the longest label in place of each (so it fits for every zone)."""
    any_zone = _ZONE_FREE.get()
    if any_zone is None or any_zone.prefix not in text:
        return _wrap(text, width, indent)
    flat = " ".join(text.split())
    longest = len(indent) + len(flat)
    for token, _ in any_zone.calls:
        longest += flat.count(token) * (LABEL_MAX - len(token))
    if flat and longest <= width:
        return indent + flat
    raise _PerZone


def _localtime_filter(value: datetime, zone: tzinfo) -> str:
    if isinstance(zone, _AnyZone):
        return zone.token(value)
    return _localtime(value, zone)


def _in_zone(
    free: tuple[str, tuple[tuple[str, datetime], ...]], zone: tzinfo, *, html: bool
) -> str:
    """A zone-free fragment with each token replaced by its time label in ``zone``."""
    text, tokens = free
    for token, value in tokens:
        label = _localtime(value, zone)
        text = text.replace(token, str(markupsafe.escape(label)) if html else label)
    return text


def _safe_url(url: str) -> str:
    """``url`` when it is http(s); "#" otherwise, so no javascript: or data: link is shown."""
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return "#"
    return url.strip() if scheme in _SAFE_SCHEMES else "#"


def _wrap(text: str, width: int = TEXT_WIDTH, indent: str = "") -> str:
    """Plain text filled to ``width`` columns with every line indented.

    Long words are broken because text without spaces (Chinese, Japanese, Thai) is one
    "word"; URLs never pass through here, they get lines of their own.
    """
    text = " ".join(text.split())
    if len(text) + len(indent) <= width:
        # What textwrap.fill gives for a line that fits, without its regex splitting.
        return indent + text if text else ""
    return textwrap.fill(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_on_hyphens=False,
    )


def _one_line(value: str) -> str:
    """A header-safe value: CR, LF and other line breaks become spaces."""
    return " ".join(value.splitlines()).strip()


def _template_location(exc: BaseException) -> tuple[str | None, int | None]:
    """The template file and line an exception was raised from, when Jinja recorded it."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.filename or exc.name, exc.lineno
    # Jinja rewrites tracebacks so template frames carry the template file and line.
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(TEMPLATE_SUFFIXES):
            return frame.filename, frame.lineno
    return None, None


def _as_template_error(exc: Exception, fallback: str) -> TemplateError:
    if isinstance(exc, TemplateError):
        return exc
    filename, lineno = _template_location(exc)
    if isinstance(exc, jinja2.TemplateNotFound):
        message = (
            f"uses {exc.name!r}, which is in no template folder "
            "(names are relative to the folder and cannot leave it)"
        )
    else:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return TemplateError(message, filename or fallback, lineno)


class Renderer:
    """Renders digests through the packaged templates, or a folder that overrides them."""

    def __init__(self, template_dir: Path | None = None, *, shared: bool = True) -> None:
        """``shared=False``: no fragment cache, no zone-free fragments, each email inlined
        whole; slower, and the reference the shared rendering must equal."""
        self._shared = shared
        loaders: list[jinja2.BaseLoader] = []
        if template_dir is not None:
            template_dir = Path(template_dir)
            if not template_dir.is_dir():
                raise TemplateError(
                    "the template folder does not exist or is not a folder",
                    str(template_dir),
                )
            loaders.append(_ConfinedLoader(template_dir))
        loaders.append(jinja2.PackageLoader("digest", "templates"))
        self._env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html",), default_for_string=True, default=False
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            # Templates are read once: a running service does not pick up edits (and a
            # stat() per template per digest is a measurable share of rendering).
            auto_reload=False,
        )
        self._env.filters.update(
            safe_url=_safe_url,
            wrap=_wrap_filter,
            localtime=_localtime_filter,
            day_label=_weekday_day_month,
        )
        self._inliner = css_inline.CSSInliner(
            load_remote_stylesheets=False,
            # @media rules (dark mode, narrow screens) cannot be inlined; keep them.
            keep_at_rules=True,
        )
        self._fragments: dict[tuple[str, object, str], str] = {}
        # The same DigestItem object comes back for every subscriber of a StoryPool, so an
        # identity lookup (checked against the item kept in the value) skips hashing it.
        self._by_identity: dict[tuple[str, int, str], tuple[DigestItem, str]] = {}
        self._email_css: str | None = None
        # Zone-free renderings of HTML fragments: (name, item) -> (html, tokens).
        self._token_prefix = f"\ue000ndtime{secrets.token_hex(6)}-"
        self._zone_free: dict[
            tuple[str, object], tuple[str, tuple[tuple[str, datetime], ...]] | None
        ] = {}
        #: Templates found to depend on the zone other than through localtime.
        self._zone_bound: set[str] = set()
        self._validate()

    def _validate(self) -> None:
        names = self._env.list_templates(filter_func=lambda n: n.endswith(TEMPLATE_SUFFIXES))
        for name in sorted(set(names) | set(REQUIRED_TEMPLATES)):
            try:
                self._env.get_template(name)
            except jinja2.TemplateNotFound:
                raise TemplateError(
                    "required template is missing from the template folders", name
                ) from None
            except (jinja2.TemplateError, TemplateError, UnicodeDecodeError) as exc:
                raise _as_template_error(exc, name) from exc
        # Compiling does not find an undefined name or a bad filter argument; rendering a
        # sample does, so those fail at start-up too.
        self._check_zone_free(sample_digest())
        for digest in (sample_digest(), sample_digest(empty=True)):
            self.page(digest)
            self.email_html(digest, unsubscribe_url="https://example.org/u/x", view_url=None)
            self.text(digest, unsubscribe_url=None)

    def _check_zone_free(self, digest: Digest) -> None:
        """Render the sample's stories both ways in zones on both sides of UTC (and of a
        date line); a fragment template whose outputs differ is rendered per zone."""
        if not self._shared:
            return
        zones = [load_zone(z) for z in ("Asia/Baghdad", "America/Bogota", "Pacific/Kiritimati")]
        items = [item for section in digest.sections for item in section.items]
        for name in ("_story.html", EMAIL_FRAGMENT, "_story.txt"):
            for item in items:
                free = self._zone_free_fragment(name, item)
                if name in self._zone_bound:
                    break  # found while rendering
                if free is not None and any(
                    _in_zone(free, zone, html=name.endswith(".html"))
                    != self._fragment_direct(name, item, zone)
                    for zone in zones
                ):
                    self._zone_bound.add(name)
                    break
        self._zone_free.clear()

    def _render(
        self,
        name: str,
        digest: Digest,
        fragment: Callable[[str, DigestItem, tzinfo], str] | None = None,
        **extra: Any,
    ) -> str:
        zone = load_zone(digest.subscriber.timezone)
        context = {
            "digest": digest,
            "zone": zone,
            "tz_name": digest.subscriber.timezone,
            "period_start": _localtime(digest.period_start, zone),
            "period_end": _localtime(digest.period_end, zone),
            "text_width": TEXT_WIDTH,
            "email_width": EMAIL_MAX_WIDTH,
            "fragment": fragment or self._fragment,
            **extra,
        }
        try:
            return self._env.get_template(name).render(context)
        except (jinja2.TemplateError, TemplateError, TypeError, ValueError) as exc:
            raise _as_template_error(exc, name) from exc

    def _fragment(self, name: str, item: DigestItem, zone: tzinfo) -> str:
        """One story rendered through template ``name``, cached across digests.

        What a story fragment shows depends on the item and the time zone only (the item is
        a frozen value), so one rendering serves every subscriber in that zone, and an HTML
        one serves every zone (see the module docstring). HTML fragments come back as
        Markup: they were autoescaped when rendered.
        """
        if not self._shared:
            return self._fragment_direct(name, item, zone)
        zone_key = str(zone)
        fast = self._by_identity.get((name, id(item), zone_key))
        if fast is not None and fast[0] is item:
            return fast[1]
        key = (name, item, zone_key)
        cached = self._fragments.get(key)
        if cached is not None:
            self._by_identity[(name, id(item), zone_key)] = (item, cached)
            return cached
        free = self._zone_free_fragment(name, item)
        if free is None:
            result = self._fragment_direct(name, item, zone)
        else:
            html = name.endswith(".html")
            text = _in_zone(free, zone, html=html)
            result = markupsafe.Markup(text) if html else text
        if len(self._fragments) >= FRAGMENT_CACHE_SIZE:
            self._fragments.clear()
            self._by_identity.clear()
            self._zone_free.clear()
        self._fragments[key] = result
        self._by_identity[(name, id(item), zone_key)] = (item, result)
        return result

    def _render_fragment(self, name: str, item: DigestItem, zone: tzinfo) -> str:
        try:
            text = self._env.get_template(name).render(
                item=item, zone=zone, text_width=TEXT_WIDTH, email_width=EMAIL_MAX_WIDTH
            )
        except (jinja2.TemplateError, TemplateError, TypeError, ValueError) as exc:
            raise _as_template_error(exc, name) from exc
        # Unshared, the email is inlined whole, its stories with it.
        return self._inline_fragment(text) if name == EMAIL_FRAGMENT and self._shared else text

    def _fragment_direct(self, name: str, item: DigestItem, zone: tzinfo) -> str:
        """The fragment rendered for this zone, uncached."""
        text = self._render_fragment(name, item, zone)
        return markupsafe.Markup(text) if name.endswith(".html") else text

    def _zone_free_fragment(
        self, name: str, item: DigestItem
    ) -> tuple[str, tuple[tuple[str, datetime], ...]] | None:
        """The fragment with a token where each zone's time label goes, and what each token
        stands for; None when this one cannot be rendered once for every zone."""
        if not name.endswith((".html", ".txt")) or name in self._zone_bound:
            return None
        key = (name, item)
        if key in self._zone_free:
            return self._zone_free[key]
        any_zone = _AnyZone(self._token_prefix)  # one per rendering: no state shared
        active = _ZONE_FREE.set(any_zone)
        try:
            text = self._render_fragment(name, item, any_zone)
        except _ZoneUsed:
            self._zone_bound.add(name)
            return None
        except _PerZone:
            self._zone_free[key] = None  # this story only: a long line holds its time
            return None
        finally:
            _ZONE_FREE.reset(active)
        tokens = tuple(any_zone.calls)
        if any(token not in text for token, _ in tokens):
            self._zone_bound.add(name)  # a filter changed the label: render per zone
            return None
        found = self._zone_free[key] = (text, tokens)
        return found

    def _inline_fragment(self, html: str) -> str:
        if self._email_css is None:
            self._email_css = self._env.get_template("email.css").render()
        try:
            return self._inliner.inline_fragment(html, self._email_css)
        except (css_inline.InlineError, ValueError) as exc:
            raise TemplateError(f"its CSS could not be inlined: {exc}", EMAIL_FRAGMENT) from exc

    def _inline_whole(self, html: str) -> str:
        try:
            return self._inliner.inline(html)
        except (css_inline.InlineError, ValueError) as exc:
            raise TemplateError(f"its CSS could not be inlined: {exc}", "email.html") from exc

    def page(self, digest: Digest) -> str:
        """The digest as a standalone web page (no JavaScript; light and dark)."""
        return self._render("page.html", digest)

    def email_html(
        self,
        digest: Digest,
        *,
        unsubscribe_url: str | None = None,
        view_url: str | None = None,
    ) -> str:
        """The HTML email body: tables at most 600 px wide, CSS inlined, a hidden preheader.

        Inlining a whole email costs more than rendering it, so the stories are left out of
        it: each is a placeholder comment while the rest is inlined, then replaced by its
        cached, already inlined fragment. Escaped text cannot forge a placeholder (its "<"
        is "&lt;"), and the email's selectors never span a story's edge.
        """
        if not self._shared:
            return self._inline_whole(
                self._render(
                    "email.html", digest, unsubscribe_url=unsubscribe_url, view_url=view_url
                )
            )
        pieces: list[str] = []
        token = f"ndfragment-{id(pieces):x}-"

        def placeholder(name: str, item: DigestItem, zone: tzinfo) -> str:
            pieces.append(self._fragment(name, item, zone))
            return markupsafe.Markup(f"<!--{token}{len(pieces) - 1}-->")

        html = self._render(
            "email.html",
            digest,
            fragment=placeholder,
            unsubscribe_url=unsubscribe_url,
            view_url=view_url,
        )
        html = self._inline_whole(html)
        if not pieces:
            return html
        parts = html.split(f"<!--{token}")
        out = [parts[0]]
        for part in parts[1:]:
            number, _, rest = part.partition("-->")
            out.append(pieces[int(number)])
            out.append(rest)
        return "".join(out)

    def text(
        self,
        digest: Digest,
        *,
        unsubscribe_url: str | None = None,
        view_url: str | None = None,
    ) -> str:
        """The plain-text part: wrapped at 72 columns, each URL on a line of its own."""
        return self._render("email.txt", digest, unsubscribe_url=unsubscribe_url, view_url=view_url)

    def email_message(
        self,
        digest: Digest,
        from_addr: str | Address,
        to_addr: str | Address,
        *,
        message_id: str,
        date: datetime,
        list_id: str | None = None,
        unsubscribe_url: str | None = None,
        view_url: str | None = None,
    ) -> EmailMessage:
        """A multipart/alternative message (text, then HTML) ready for the mailer.

        Header values never carry CR or LF (they are replaced by spaces); a non-ASCII
        subject or name is encoded (RFC 2047) by the email package's default policy. A
        bare ``to_addr`` gets the subscriber's name as its display name. With an
        ``unsubscribe_url``, List-Unsubscribe is set (and List-Unsubscribe-Post, RFC 8058,
        when the URL is https).
        """
        if date.tzinfo is None or date.utcoffset() is None:
            raise DigestError("the message date must be timezone-aware")
        msg = EmailMessage()
        msg["Subject"] = _one_line(digest.subject)
        msg["From"] = _address(from_addr, "")
        msg["To"] = _address(to_addr, digest.subscriber.name)
        msg["Date"] = format_datetime(date.astimezone(UTC))
        msg["Message-ID"] = _angle(_one_line(message_id))
        if list_id:
            msg["List-Id"] = _angle(_one_line(list_id))
        if unsubscribe_url:
            url = _one_line(unsubscribe_url)
            msg["List-Unsubscribe"] = f"<{url}>"
            if url.lower().startswith("https://"):
                msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(self.text(digest, unsubscribe_url=unsubscribe_url, view_url=view_url))
        msg.add_alternative(
            self.email_html(digest, unsubscribe_url=unsubscribe_url, view_url=view_url),
            subtype="html",
        )
        return msg


def _angle(value: str) -> str:
    """``value`` in angle brackets (Message-ID, List-Id), unless it already has them."""
    return value if value.endswith(">") and "<" in value else f"<{value.strip('<>')}>"


def _address(value: str | Address, default_name: str) -> Address:
    try:
        if isinstance(value, Address):
            name, spec = _one_line(value.display_name), _one_line(value.addr_spec)
        else:
            name, spec = _one_line(default_name), _one_line(value)
            if "<" in spec:
                name, _, rest = spec.partition("<")
                name, spec = name.strip().strip('"'), rest.rstrip(">").strip()
        if spec.isascii():
            return Address(name, addr_spec=spec)
        # A UTF-8 local part (RFC 6532) fails the email package's addr_spec check; given as
        # parts it is kept, and the mailer sends it with SMTPUTF8 (digest/addresses.py).
        local, at, domain = spec.rpartition("@")
        if not (at and local and domain):
            raise ValueError("no local part or domain")
        return Address(name, username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise DigestError(f"not a usable email address: {value!s} ({exc})") from exc


def sample_digest(*, empty: bool = False) -> Digest:
    """A small digest exercising every template branch, for validation and previews.

    Multilingual on purpose (Arabic, Persian, English) so previews show right-to-left text.
    """
    end = datetime(2025, 1, 10, 4, 0, tzinfo=UTC)
    start = end - timedelta(days=1)
    prefs = SubscriberPrefs(
        email="reader@example.org",
        name="Sample Reader",
        timezone="Asia/Baghdad",
        send_at=time(7, 0),
        regions=("Middle East",),
        countries=("CH", "FR"),
        limits=Limits(per_section=2, total=3),
        send_empty=True,
    )

    def art(
        i: int, story: int | None, outlet: str, title: str, hours: float, **kw: Any
    ) -> DigestArticle:
        at = start + timedelta(hours=hours)
        return DigestArticle(
            id=i,
            story_id=story,
            title=title,
            url=f"https://news{i}.example/{i}",
            outlet=outlet,
            outlet_id=i,
            published=at,
            first_seen=at,
            **kw,
        )

    me = {"countries": ("IQ", "IR"), "regions": ("Middle East",), "topics": ("diplomacy",)}
    articles = [
        art(1, 7, "Outlet One", "Iraqi Prime Minister visits Tehran", 2, summary="Talks.", **me),
        art(2, 7, "وكالة الأنباء", "رئيس الوزراء العراقي يزور طهران", 3, language="ar", **me),
        art(3, 7, "خبرگزاری", "سفر نخست وزیر عراق به تهران", 4, language="fa", updated=True, **me),
        art(4, None, "Outlet One", "Oil output talks", 5, **me),
        art(5, None, "Outlet Two", "Border crossing reopens", 6, **me),
        art(6, None, "Outlet Two", "Summit in Geneva", 7, countries=("CH",), topics=("diplomacy",)),
        art(7, None, "Outlet Three", "Paris report", 8, countries=("FR",)),
    ]
    return compose(
        [] if empty else articles,
        prefs,
        (start, end),
        region_countries={"Middle East": frozenset({"IQ", "IR"})},
        delivered_story_ids=frozenset(),
        now=end,
    )
