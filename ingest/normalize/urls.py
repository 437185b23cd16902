"""Canonical article URLs: one spelling per article, so "same URL" can be decided by equality.

The RFC 3986 part (lower-case scheme and host, IDNA to punycode, no default port, dot
segments resolved, percent-escapes normalized) is done by ``url-normalize``
(https://github.com/niksite/url-normalize): it is small (one dependency, ``idna``, which
httpx already pulls in) and imports in about 18 ms here, where ``w3lib.url`` took about
90 ms (it imports ``urllib.request``) and ``courlan`` brings ``tld``, ``babel`` and
``urllib3``. Measured with ``python -X importtime`` on this machine.

What url-normalize does not do, we do around it: resolve relative links against a base,
reject what is not an absolute http(s) URL (raising :class:`InvalidURLError`), drop
credentials and the fragment, remove tracking parameters and sort the remaining query.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

from url_normalize import url_normalize

from ingest.normalize.errors import InvalidURLError

#: Longer values are rejected. A 10 KB link is still canonicalized; a megabyte is junk.
MAX_URL_CHARS = 32 * 1024

#: Query parameters that only say where a click came from. Matched case-insensitively
#: on the decoded parameter name. Sources: Google Analytics/Ads (utm_*, gclid, gclsrc,
#: dclid, gbraid, wbraid, _ga, _gl), Meta (fbclid, igshid), Microsoft (msclkid), Mailchimp
#: (mc_cid, mc_eid), HubSpot (_hsenc, _hsmi, __hs*), Marketo (mkt_tok), Yandex (yclid),
#: Twitter/X (twclid), TikTok (ttclid), LinkedIn (li_fat_id), Matomo/Piwik (pk_*, mtm_*),
#: Adobe (s_cid), Vero (vero_*), Olytics (oly_*), and share/referral markers (ref,
#: ref_src, ref_url, smid, sr_share, ncid, cmpid, at_medium, at_campaign, spm).
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "ref",
        "ref_src",
        "ref_url",
        "igshid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "mkt_tok",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "s_cid",
        "smid",
        "sr_share",
        "ncid",
        "cmpid",
        "at_medium",
        "at_campaign",
        "spm",
        "wickedid",
        "rb_clickid",
    }
)

#: Parameter-name prefixes that mark a whole family of tracking parameters.
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "mtm_", "__hs", "vero_", "oly_")

_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A host after IDNA encoding: LDH labels (underscores are seen in the wild), or an IP
# literal. Anything else (spaces, percent-escapes, quotes) is not a host we can fetch.
_HOST = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")
_IPV6 = re.compile(r"\[[0-9a-f:.]+\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# WHATWG URL parsing drops tabs and newlines anywhere in a URL; feeds wrap long links.
_TAB_NEWLINE = str.maketrans("", "", "\t\r\n")


def is_tracking_param(name: str, extra: frozenset[str] = frozenset()) -> bool:
    """Whether the (raw, possibly percent-encoded) query parameter ``name`` is tracking."""
    key = unquote_plus(name).strip().lower()
    return key in TRACKING_PARAMS or key in extra or key.startswith(TRACKING_PREFIXES)


def canonical_url(
    url: str,
    base: str | None = None,
    extra_tracking_params: Iterable[str] = (),
) -> str:
    """Return the canonical spelling of the article link ``url``.

    ``base`` (xml:base, or the feed's URL) resolves relative links. ``extra_tracking_params``
    (names, case-insensitive) are removed as well as :data:`TRACKING_PARAMS` and names
    starting with :data:`TRACKING_PREFIXES`.

    The result is an absolute http(s) URL with a lower-case scheme and host (IDNA hosts
    in punycode), no credentials, no default port, no fragment, dot segments resolved,
    percent-escapes normalized and the query's ``key=value`` pairs sorted. It is a fixed
    point: ``canonical_url(canonical_url(u)) == canonical_url(u)``.

    >>> canonical_url("HTTPS://Example.COM:443/a/../b?utm_source=x&z=1&a=2#top")
    'https://example.com/b?a=2&z=1'
    >>> canonical_url("../news/1?fbclid=abc", base="https://example.com/feeds/rss.xml")
    'https://example.com/news/1'

    Raises :class:`InvalidURLError` for anything that is not an http(s) URL (after
    resolution): empty strings, ``javascript:``/``mailto:`` links, missing or malformed
    hosts, bad ports, control characters, values over :data:`MAX_URL_CHARS`.
    """
    if not isinstance(url, str):
        raise TypeError(f"canonical_url() needs a str, not {type(url).__name__}")
    extra = frozenset(name.strip().lower() for name in extra_tracking_params)

    text = url.translate(_TAB_NEWLINE).strip()
    if not text:
        raise InvalidURLError(url, "empty link")
    if len(text) > MAX_URL_CHARS:
        raise InvalidURLError(url, f"longer than {MAX_URL_CHARS} characters")
    if _CONTROL.search(text):
        raise InvalidURLError(url, "contains control characters")

    # Cut the fragment first: url-normalize would turn a "#!" fragment into a query.
    text = text.partition("#")[0]
    fast = _fast_canonical(text, extra)
    return fast if fast is not None else _full_canonical(url, text, base, extra)


def _full_canonical(url: str, text: str, base: str | None, extra: frozenset[str]) -> str:
    """:func:`canonical_url` of the fragment-less ``text`` (``url`` is for messages)."""
    if base:
        text = _resolve(text, base)
    _check_absolute(url, text)

    try:
        normalized = url_normalize(text)
    except (ValueError, UnicodeError) as exc:  # bad IPv6 literal, un-encodable IDNA label
        raise InvalidURLError(url, f"malformed host or address: {exc}") from exc
    if not normalized:
        raise InvalidURLError(url, "nothing left after normalization")

    parts = urlsplit(normalized)
    host = parts.hostname or ""
    if not (_HOST.fullmatch(host) or _IPV6.fullmatch(f"[{host}]")):
        raise InvalidURLError(url, f"malformed host {host!r}")
    netloc = f"[{host}]" if ":" in host else host
    port = parts.port  # already checked in _check_absolute; None when default/absent
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        netloc = f"{netloc}:{port}"
    query = _clean_query(parts.query, extra)
    return urlunsplit((parts.scheme, netloc, parts.path or "/", query, ""))


# An absolute http(s) URL that url-normalize, urljoin and our own checks would leave as it
# is, apart from lower-casing the scheme and host: an LDH host (labels of 1-63 characters,
# no IDNA-special "--" in positions 3-4), no user info, no port, a path of unreserved
# characters without empty, "." or ".." segments (no segment starts with "."), and a query
# of key[=value] pairs of unreserved characters. Most article links are like this; for
# them canonical_url skips url-normalize (two thirds of its time). Anything else, even a
# "%", takes the full path. tests/test_properties_urls.py checks that both agree.
_UNRESERVED = r"A-Za-z0-9\-._~"
_FAST_URL = re.compile(
    r"(?P<scheme>[hH][tT][tT][pP][sS]?)://"
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)"
    rf"(?P<path>(?:/[A-Za-z0-9\-_~][{_UNRESERVED}]*)*/?)"
    rf"(?:\?(?P<query>[{_UNRESERVED}=&]*))?"
)
_SAFE_PAIR = re.compile(rf"[{_UNRESERVED}]*(?:=[{_UNRESERVED}]*)?")


def _fast_canonical(text: str, extra: frozenset[str]) -> str | None:
    """:func:`canonical_url` of ``text`` when it is a plain absolute link, else None."""
    match = _FAST_URL.fullmatch(text)
    if match is None:
        return None
    host = match["host"].lower()
    for label in host.split("."):
        if len(label) > 63 or label[2:4] == "--":
            return None
    query = match["query"] or ""
    if query and not all(_SAFE_PAIR.fullmatch(pair) for pair in query.split("&")):
        return None
    path = match["path"] or "/"
    return urlunsplit((match["scheme"].lower(), host, path, _clean_query(query, extra), ""))


def _resolve(text: str, base: str) -> str:
    """Resolve ``text`` against ``base`` when the base is itself an absolute http(s) URL."""
    base_parts = urlsplit(base.strip())
    if base_parts.scheme.lower() not in _SCHEMES or not base_parts.netloc:
        # A relative or non-web base cannot help; an absolute link does not need it.
        return text
    try:
        return urljoin(base.strip(), text)
    except ValueError as exc:  # e.g. an unbalanced "[" in either value
        raise InvalidURLError(text, f"cannot resolve against base {base[:200]!r}: {exc}") from exc


def _check_absolute(original: str, text: str) -> None:
    """Raise unless ``text`` is an absolute http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError as exc:
        raise InvalidURLError(original, f"malformed address: {exc}") from exc
    scheme = parts.scheme.lower()
    if not scheme:
        raise InvalidURLError(original, "relative link and no base URL to resolve it")
    if scheme not in _SCHEMES:
        raise InvalidURLError(original, f"scheme {scheme!r} is not http or https")
    if not parts.hostname:
        raise InvalidURLError(original, "no host")
    if port == 0:
        raise InvalidURLError(original, "port 0")


def _clean_query(query: str, extra: frozenset[str]) -> str:
    """Drop empty and tracking parameters; sort the rest (by name, then value).

    Works on the raw ``key=value`` strings (already escape-normalized by url-normalize),
    so re-encoding cannot change a parameter and the result is a fixed point.
    """
    if not query:
        return ""
    kept = [
        pair
        for pair in query.split("&")
        if pair and not is_tracking_param(pair.partition("=")[0], extra)
    ]
    kept.sort(key=lambda pair: (pair.partition("=")[0], pair.partition("=")[2]))
    return "&".join(kept)
