"""Properties of canonical_url beyond tests/test_normalize_urls.py's fixed point.

That file shows ``canonical_url`` is idempotent on generated URLs and on any text. Here:
every spelling of one address that means the same page gives the same canonical URL (so
"same URL" de-duplication holds whatever a feed wrote), and idempotence also holds for
relative links resolved against a base and with configured extra tracking parameters.
"""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ingest.normalize import InvalidURLError, canonical_url

SETTINGS = settings(max_examples=100, deadline=None)

# Host labels in several scripts; IDNA turns them to punycode.
_LABELS = st.sampled_from(
    ["news", "example", "bücher", "مثال", "пример", "例子", "ελλάδα", "a-b", "x1", "cdn"]
)
_TLDS = st.sampled_from(["com", "org", "example", "xn--kgbechtv", "рф"])
# Path segments and query values: letters of several scripts, digits, unreserved marks.
_WORD = st.text(alphabet="abcXYZ019-._~éßжالعربية中文ü", min_size=1, max_size=8).filter(
    lambda s: s not in {".", ".."}
)
_PARAM_NAMES = st.sampled_from(["id", "page", "q", "lang", "ñ", "s", "sección"])
_TRACKING = st.sampled_from(
    ["utm_source", "utm_medium", "UTM_Campaign", "fbclid", "gclid", "mc_eid", "ref", "_ga"]
)


@st.composite
def addresses(draw: st.DrawFn) -> tuple[str, str, list[str], list[tuple[str, str]]]:
    """(scheme, host, path segments, query pairs) of a plain, valid address."""
    scheme = draw(st.sampled_from(["http", "https"]))
    host = ".".join([*draw(st.lists(_LABELS, min_size=1, max_size=2)), draw(_TLDS)])
    segments = draw(st.lists(_WORD, max_size=4))
    pairs = draw(st.lists(st.tuples(_PARAM_NAMES, _WORD), max_size=4, unique_by=lambda p: p[0]))
    return scheme, host, segments, pairs


def _spell(scheme: str, host: str, segments: list[str], pairs: list[tuple[str, str]]) -> str:
    query = "&".join(f"{k}={v}" for k, v in pairs)
    return f"{scheme}://{host}/{'/'.join(segments)}" + (f"?{query}" if query else "")


def _shout(text: str, flips: list[bool]) -> str:
    """Upper-case the characters whose flag is set (missing flags: keep)."""
    padded = (flips + [False] * len(text))[: len(text)]
    return "".join(c.upper() if flip else c for c, flip in zip(text, padded, strict=True))


@st.composite
def respellings(draw: st.DrawFn) -> tuple[str, str]:
    """An address and another spelling of it that names the same page."""
    scheme, host, segments, pairs = draw(addresses())
    plain = _spell(scheme, host, segments, pairs)
    # Scheme and host case do not matter (RFC 3986 6.2.2.1); path case does, so it stays.
    other_scheme = _shout(scheme, draw(st.lists(st.booleans(), max_size=5)))
    other_host = host if not host.isascii() else _shout(host, draw(st.lists(st.booleans())))
    # A trailing dot on the host and the scheme's default port change nothing.
    other_host += draw(st.sampled_from(["", "."]))
    other_host += draw(st.sampled_from(["", {"http": ":80", "https": ":443"}[scheme]]))
    # Percent-encoding a segment's characters (UTF-8) spells the same path.
    encode = draw(st.lists(st.booleans(), min_size=len(segments), max_size=len(segments)))
    other_segments = [
        quote(seg, safe="") if flag else seg for seg, flag in zip(segments, encode, strict=True)
    ]
    # Query order, tracking parameters and the fragment do not name another page.
    tracking = draw(st.lists(st.tuples(_TRACKING, _WORD), max_size=3))
    other_pairs = draw(st.permutations(pairs + tracking))
    fragment = draw(st.sampled_from(["", "#top", "#!/comments", "#مقدمة"]))
    other = _spell(other_scheme, other_host, other_segments, other_pairs) + fragment
    return plain, other


@SETTINGS
@given(respellings())
def test_spellings_of_one_page_share_one_canonical_url(case: tuple[str, str]) -> None:
    plain, other = case
    try:
        expected = canonical_url(plain)
    except InvalidURLError:
        assume(False)
        return
    assert canonical_url(other) == expected
    assert canonical_url(expected) == expected


@SETTINGS
@given(
    addresses(),
    st.sampled_from(["", "./", "../", "../../", "/"]),
    st.sampled_from(["https://news.example/feeds/world/rss.xml", "http://例子.测试/a/b/"]),
)
def test_a_relative_link_resolves_to_a_fixed_point(
    address: tuple[str, str, list[str], list[tuple[str, str]]], prefix: str, base: str
) -> None:
    _, _, segments, pairs = address
    query = "&".join(f"{k}={v}" for k, v in pairs)
    relative = prefix + "/".join(segments) + (f"?{query}" if query else "")
    try:
        resolved = canonical_url(relative, base)
    except InvalidURLError:
        assume(False)
        return
    assert canonical_url(resolved) == resolved
    # The base's host is kept: a relative link cannot move to another site.
    assert resolved.split("/")[2] == canonical_url(base).split("/")[2]
    # Resolving an already canonical absolute URL against any base changes nothing.
    assert canonical_url(resolved, base) == resolved


@SETTINGS
@given(addresses(), st.lists(_PARAM_NAMES, max_size=3))
def test_extra_tracking_parameters_keep_the_fixed_point(
    address: tuple[str, str, list[str], list[tuple[str, str]]], extra: list[str]
) -> None:
    url = _spell(*address)
    try:
        once = canonical_url(url, extra_tracking_params=extra)
    except InvalidURLError:
        assume(False)
        return
    assert canonical_url(once, extra_tracking_params=extra) == once
    assert canonical_url(once) == once  # removing more never leaves something to remove
    kept = {pair.partition("=")[0] for pair in once.partition("?")[2].split("&") if pair}
    assert not kept & {quote(name, safe="") for name in extra}


# --- the fast path -------------------------------------------------------------------------
# canonical_url skips url-normalize for plain links (urls._fast_canonical); it must give
# exactly what the full path gives, and must decline anything it cannot do the same way.

# Pieces near the edge of what the fast path accepts: empty, dot and dot-dot segments,
# double slashes, escapes, "+", a second "=", upper case, IDNA-looking labels, long labels.
_FAST_HOST_LABELS = st.sampled_from(
    ["news", "Example", "a-b", "x1", "1", "ab--cd", "xn--kgbechtv", "-bad", "a" * 64, "b" * 63]
)
_FAST_SEGMENTS = st.sampled_from(
    ["a", "B", "story-1.html", "", ".", "..", ".well-known", "%7E", "%41", "~x", "a+b", "a b", "é"]
)
_FAST_PAIRS = st.sampled_from(
    ["id=3", "utm_source=rss", "Z=1", "a", "a=", "", "q=a=b", "x=%20", "p=a+b", "ref=x", "k=v.w"]
)


@st.composite
def near_plain_links(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTPS", "Http"]))
    host = ".".join(draw(st.lists(_FAST_HOST_LABELS, min_size=1, max_size=3)))
    port = draw(st.sampled_from(["", "", ":443", ":80", ":8080"]))
    path = "".join("/" + s for s in draw(st.lists(_FAST_SEGMENTS, max_size=4)))
    path += draw(st.sampled_from(["", "/"]))
    pairs = draw(st.lists(_FAST_PAIRS, max_size=4))
    query = ("?" + "&".join(pairs)) if pairs or draw(st.booleans()) else ""
    return f"{scheme}://{host}{port}{path}{query}"


@settings(max_examples=400, deadline=None)
@given(near_plain_links(), st.lists(st.sampled_from(["id", "K", "q"]), max_size=2))
def test_the_fast_path_agrees_with_the_full_one(link: str, extra: list[str]) -> None:
    from ingest.normalize.urls import _fast_canonical, _full_canonical

    extras = frozenset(e.lower() for e in extra)
    fast = _fast_canonical(link, extras)
    assume(fast is not None)
    assert fast == _full_canonical(link, link, None, extras)
    assert fast == _full_canonical(link, link, "https://base.example/feeds/rss.xml", extras)


def test_common_article_links_take_the_fast_path() -> None:
    from ingest.normalize.urls import _fast_canonical

    for link, expected in [
        (
            "https://News.Example/articles/1.html?utm_source=rss&b=2&a=1",
            "https://news.example/articles/1.html?a=1&b=2",
        ),
        ("http://example.com", "http://example.com/"),
        ("https://www.bbc.co.uk/news/world-middle-east-123", None),
    ]:
        got = _fast_canonical(link, frozenset())
        assert got is not None
        assert got == (expected or link)
        assert canonical_url(link) == got
    # Declined: an escape, a port, dot segments, an IDNA label.
    for link in [
        "https://example.com/a%20b",
        "https://example.com:8443/a",
        "https://example.com/a/../b",
        "https://xn--kgbechtv.example/",
    ]:
        assert _fast_canonical(link, frozenset()) is None
