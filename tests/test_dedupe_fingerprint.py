"""text_fingerprint: same story text -> same hash, whatever the wrapper, case or spacing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.dedupe import text_fingerprint
from ingest.dedupe.tokens import _token_patterns, fold, is_no_space_token, tokenize

# Written for these tests.
STORY = """Heavy rain flooded the lower districts of the port city on Monday night, forcing
hundreds of families to leave their homes before dawn.

The municipal council said pumping stations had failed after a power cut, and that
engineers expected to restore them within two days.

Schools in the affected districts will stay closed until Thursday, the council added."""

FOLDED = """heavy rain flooded the lower districts of the port city on monday night forcing
hundreds of families to leave their homes before dawn

THE MUNICIPAL COUNCIL SAID PUMPING STATIONS HAD FAILED AFTER A POWER CUT AND THAT ENGINEERS
EXPECTED TO RESTORE THEM WITHIN TWO DAYS
   Schools in the affected districts will stay closed until Thursday - the council added!!"""

WRAPPERS = [
    ("Share this article", "Read more: flood maps and shelters"),
    ("Share on Facebook | Share on X | WhatsApp", "© 2025 Harbour Times. All rights reserved."),
    ("Follow us on Telegram", "This article was originally published by The Coast Courier."),
    ("Compartir en Facebook", "Publicado originalmente por El Diario del Puerto."),
    ("Partager sur Facebook", "Lire la suite"),
    ("Compartilhar no WhatsApp", "Todos os direitos reservados."),
    ("Síguenos en Telegram", "Leer más"),
    ("Advertisement", "Tags: floods, port, weather"),
    ("Updated 09:14", "Photo: staff"),  # very short lines
]


def test_same_text_same_fingerprint() -> None:
    assert text_fingerprint(STORY) == text_fingerprint(STORY)
    assert len(text_fingerprint(STORY)) == 32


def test_ignores_case_whitespace_punctuation_and_line_wrapping() -> None:
    assert text_fingerprint(FOLDED) == text_fingerprint(STORY)


@pytest.mark.parametrize(("header", "footer"), WRAPPERS)
def test_ignores_boilerplate_lines(header: str, footer: str) -> None:
    wrapped = f"{header}\n\n{STORY}\n\n{footer}"
    assert text_fingerprint(wrapped) == text_fingerprint(STORY)


def test_a_changed_sentence_changes_the_fingerprint() -> None:
    edited = STORY.replace("two days", "three days")
    assert text_fingerprint(edited) != text_fingerprint(STORY)


def test_a_real_paragraph_starting_like_boilerplate_is_kept() -> None:
    paragraph = (
        "Share prices of the port operator fell by eight percent in early trading as "
        "investors weighed the cost of repairs."
    )
    assert text_fingerprint(f"{STORY}\n{paragraph}") != text_fingerprint(STORY)


def test_token_boundaries_matter() -> None:
    a = "the council approved the budget for the new bridge after a long debate tonight"
    b = a.replace("new bridge", "newb ridge")
    assert text_fingerprint(a) != text_fingerprint(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # Hindi: danda vs full stop, extra spaces; the combining vowel signs stay in words
        (
            "बाढ़ के कारण बंदरगाह शहर के निचले इलाकों से सैकड़ों परिवारों को निकाला गया।",
            "बाढ़ के कारण  बंदरगाह शहर के निचले इलाकों से सैकड़ों परिवारों को निकाला गया.",
        ),
        # Chinese: full-width vs ASCII punctuation (NFKC)
        (
            "周一晚间暴雨淹没了港口城市的低洼地区，数百个家庭在黎明前被迫撤离。",
            "周一晚间暴雨淹没了港口城市的低洼地区,数百个家庭在黎明前被迫撤离.",
        ),
        # Arabic: punctuation and spacing
        (
            "غمرت الأمطار الغزيرة الأحياء المنخفضة في المدينة الساحلية، "
            "وأُجبرت مئات الأسر على المغادرة.",
            "غمرت الأمطار الغزيرة الأحياء المنخفضة في المدينة الساحلية "
            "وأُجبرت مئات الأسر على المغادرة",
        ),
        # German: case folding (ß -> ss)
        (
            "DIE STRASSE ZUM HAFEN BLEIBT WEGEN DES HOCHWASSERS BIS DONNERSTAG GESPERRT",
            "Die Straße zum Hafen bleibt wegen des Hochwassers bis Donnerstag gesperrt.",
        ),
    ],
)
def test_multilingual_equivalents(a: str, b: str) -> None:
    assert text_fingerprint(a) == text_fingerprint(b)


def test_hindi_words_differing_only_in_a_vowel_sign_differ() -> None:
    # "कम" (less) vs "काम" (work): a combining vowel sign must not be dropped.
    a = "इस साल बंदरगाह पर कम हुआ और सरकार ने नई योजना की घोषणा की"
    assert text_fingerprint(a) != text_fingerprint(a.replace("कम", "काम"))


@pytest.mark.parametrize("text", ["", "   \n ", "!!! ... ---", "© ®"])
def test_no_words_no_fingerprint(text: str) -> None:
    assert text_fingerprint(text) == ""


def test_short_text_still_has_an_identity() -> None:
    # A headline-only entry: all lines are short, so none is dropped.
    assert text_fingerprint("Port closed") != text_fingerprint("Port reopened")
    assert text_fingerprint("Read more") != ""


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        # any code point but lone surrogates: Latin-1, Devanagari marks, Thai, CJK, and
        # characters beyond U+FFFF all occur
        alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from("’“”—–«»_ "),
        max_size=300,
    )
)
def test_fast_tokenizer_paths_find_what_the_full_pattern_finds(line: str) -> None:
    """tokenize() takes shortcuts (bytes.translate for Latin-1, a BMP-only pattern); the
    tokens must be those of the plain pattern with every combining mark."""
    folded = fold(line)
    _, full = _token_patterns()
    expected = full.findall(folded.replace("_", " "))
    if not any(is_no_space_token(c) for c in folded):
        assert tokenize(folded) == expected
    else:  # no-space scripts are then split per character
        assert "".join(tokenize(folded)) == "".join(expected)


_BOILERPLATE_WORDS = [
    "share", "tweet", "this", "article", "on", "originally", "published", "first",
    "appeared", "by", "the", "story", "was", "republished", "from", "read", "more",
    "follow", "us", "@desk", "subscribe", "©", "(c)", "copyright", "all", "rights",
    "reserved", "tags:", "advertisement", "leer", "más", "lire", "aussi", "publié",
    "initialement", "leia", "mais", "news", "minister", "2025", "-", ",",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_BOILERPLATE_WORDS), max_size=12))
def test_boilerplate_split_matches_the_one_expression(words: list[str]) -> None:
    # is_boilerplate tries the "^" patterns at the start only and searches the others; it
    # must decide as one search of all the patterns did.
    from ingest.dedupe.tokens import _BOILERPLATE, is_boilerplate

    line = fold(" ".join(words))
    tokens = tokenize(line)
    expected = len(tokens) <= 16 and _BOILERPLATE.search(line) is not None
    assert is_boilerplate(line, tokens) == expected
