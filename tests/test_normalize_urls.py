"""canonical_url: one spelling per article link; junk raises InvalidURLError."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ingest.normalize import MAX_URL_CHARS, InvalidURLError, canonical_url

CASES = [
    # (input, base, expected)
    ("HTTPS://Example.COM:443/a/../b?z=1&a=2#top", None, "https://example.com/b?a=2&z=1"),
    ("http://example.com:80", None, "http://example.com/"),
    ("http://example.com:8080/x", None, "http://example.com:8080/x"),
    ("https://example.com./x", None, "https://example.com/x"),
    ("https://user:secret@example.com/x", None, "https://example.com/x"),
    ("https://example.com/%7euser/%2f?%5Fid=1", None, "https://example.com/~user/%2F?_id=1"),
    ("  https://example.com/a\n/b\t ", None, "https://example.com/a/b"),
    ("https://bücher.example/straße", None, "https://xn--bcher-kva.example/stra%C3%9Fe"),
    ("https://مثال.إختبار/خبر", None, "https://xn--mgbh0fb.xn--kgbechtv/%D8%AE%D8%A8%D8%B1"),
    (
        "https://例子.测试/新闻?页=2",
        None,
        "https://xn--fsqu00a.xn--0zwm56d/%E6%96%B0%E9%97%BB?%E9%A1%B5=2",
    ),
    ("http://[2001:DB8::1]:80/x", None, "http://[2001:db8::1]/x"),
    ("http://192.0.2.1/x", None, "http://192.0.2.1/x"),
    # tracking parameters
    ("https://ex.com/n?utm_source=rss&utm_Medium=x&id=7", None, "https://ex.com/n?id=7"),
    ("https://ex.com/n?fbclid=a&gclid=b&mc_cid=c&mc_eid=d&ref=e", None, "https://ex.com/n"),
    ("https://ex.com/n?msclkid=a&_ga=b&pk_campaign=c&smid=d&p=1", None, "https://ex.com/n?p=1"),
    ("https://ex.com/n?UTM_SOURCE=a&Ref=b", None, "https://ex.com/n"),
    ("https://ex.com/n?utm%5Fsource=a&x=1", None, "https://ex.com/n?x=1"),
    ("https://ex.com/n?b=2&&a=1&a=0", None, "https://ex.com/n?a=0&a=1&b=2"),
    ("https://ex.com/n?flag&id=1", None, "https://ex.com/n?flag&id=1"),
    # relative links against a base (xml:base or the feed URL)
    ("/news/1?utm_campaign=x", "https://ex.com/feed.xml", "https://ex.com/news/1"),
    ("../a", "https://ex.com/x/y/feed", "https://ex.com/x/a"),
    ("item?id=3", "https://ex.com/feeds/", "https://ex.com/feeds/item?id=3"),
    ("//cdn.ex.com/p", "https://ex.com/feed", "https://cdn.ex.com/p"),
    ("https://other.org/p", "https://ex.com/feed", "https://other.org/p"),
    ("https://other.org/p", "not a url", "https://other.org/p"),
]


@pytest.mark.parametrize(("url", "base", "expected"), CASES)
def test_canonical_url(url: str, base: str | None, expected: str) -> None:
    assert canonical_url(url, base) == expected


@pytest.mark.parametrize(("url", "base", "expected"), CASES)
def test_canonical_url_is_a_fixed_point(url: str, base: str | None, expected: str) -> None:
    assert canonical_url(expected) == expected


JUNK = [
    ("", "empty"),
    ("   ", "empty"),
    ("javascript:alert(1)", "scheme"),
    ("mailto:desk@example.com", "scheme"),
    ("ftp://example.com/file", "scheme"),
    ("data:text/html,hi", "scheme"),
    ("news/1", "relative"),
    ("//cdn.example.com/x", "relative"),
    ("http://", "no host"),
    ("http:///path", "no host"),
    ("http://exa mple.com/", "malformed host"),
    ("http://ex%41mple.com/", "malformed host"),
    ("http://example.com:99999/", "malformed address"),
    ("http://example.com:http/", "malformed address"),
    ("http://[::1/", "malformed address"),
    ("http://example.com/\x00", "control"),
    ("https://example.com/" + "a" * MAX_URL_CHARS, "longer than"),
]


@pytest.mark.parametrize(("url", "reason"), JUNK)
def test_junk_raises_our_error_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(InvalidURLError, match=reason) as info:
        canonical_url(url)
    assert info.value.url == url
    assert len(str(info.value)) < 400  # a 32 KB value does not become a 32 KB message


def test_extra_tracking_params_are_configurable() -> None:
    url = "https://ex.com/n?src=feed&cmp=x&id=1"
    assert canonical_url(url) == "https://ex.com/n?cmp=x&id=1&src=feed"
    assert canonical_url(url, extra_tracking_params=["SRC", "cmp"]) == "https://ex.com/n?id=1"


def test_a_hundred_tracking_params_are_all_removed() -> None:
    junk = "&".join(f"utm_{i}=v{i}&fbclid=f{i}" for i in range(100))
    assert canonical_url(f"https://ex.com/story?{junk}&id=42") == "https://ex.com/story?id=42"


def test_a_10kb_url_is_canonicalized() -> None:
    path = "/".join(["segment"] * 1300)  # about 10 KB
    url = f"HTTPS://EX.COM/{path}?b=1&a=2&utm_source=x"
    result = canonical_url(url)
    assert result == f"https://ex.com/{path}?a=2&b=1"
    assert len(result) > 10_000


def test_non_string_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        canonical_url(b"https://example.com/")  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------

_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-éüß中文", min_size=1, max_size=10)
_host = st.lists(_label, min_size=1, max_size=3).map(".".join)
# Any printable text, except the delimiters that would move it out of its component.
_chars = st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters="?#&")
_segment = st.text(alphabet=_chars, max_size=8)
_param = st.tuples(
    st.sampled_from(["id", "utm_source", "q", "page", "fbclid", "Ref", "a b", "ñ", "x%20y"]),
    st.text(alphabet=_chars, max_size=6),
)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "hTTps"]))
    host = draw(_host)
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    path = "/".join(draw(st.lists(_segment, max_size=4)))
    params = draw(st.lists(_param, max_size=5))
    query = "&".join(f"{k}={v}" for k, v in params)
    fragment = draw(st.sampled_from(["", "#top", "#!/x"]))
    return f"{scheme}://{host}{port}/{path}" + (f"?{query}" if query else "") + fragment


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(urls())
def test_canonical_url_is_idempotent(url: str) -> None:
    try:
        once = canonical_url(url)
    except InvalidURLError:
        assume(False)
        return
    assert canonical_url(once) == once
    assert "#" not in once
    names = {pair.partition("=")[0].lower() for pair in urlsplit(once).query.split("&")}
    assert not names & {"utm_source", "fbclid", "ref"}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.one_of(st.none(), st.just("https://ex.com/feed/")))
def test_any_text_gives_a_url_or_our_error(text: str, base: str | None) -> None:
    try:
        result = canonical_url(text, base)
    except InvalidURLError:
        return
    assert result.startswith(("http://", "https://"))
    assert canonical_url(result) == result
