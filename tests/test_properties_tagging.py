"""Tag scoring does not depend on where unrelated paragraphs stand; fast paths equal their regexes.

An article's place paragraphs stay in their order (the lead first: its first sentence
weighs more, by design); paragraphs that name no place (economy, health, sport, quotes,
in English, French, Arabic and Greek, plus generated ones) are inserted anywhere after
the lead. The countries, regions and topics must be the same, and every score equal up
to float rounding (the sums run in another order).
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ingest.tagging import TagResult, tag_article
from ingest.tagging.countries import _NAME_BEFORE, _ORIGIN_ARTICLE, _may_end_article, _word_before
from ingest.tagging.matcher import _may_be_unspaced, _unspaced, scan
from ingest.tagging.rules import DEFAULT_RULES
from ingest.tagging.tagger import _automaton
from ingest.tagging.text import _SENTENCE_ENDS, Sentences, normalise

ARTICLES = {
    "en": (
        "Iraqi prime minister visits Iran for talks on gas and trade",
        [
            "BAGHDAD — Iraq's prime minister arrived in Tehran on Wednesday for talks with "
            "Iran's president on gas payments, border crossings and security cooperation.",
            "Iraqi officials said the two governments would sign agreements on electricity "
            "and trade, and Iranian ministers promised faster customs checks at the border.",
            "Baghdad still buys gas from Iran to run its power stations, and payments have "
            "been held up by banking restrictions.",
        ],
    ),
    "ar": (
        "رئيس الوزراء العراقي يزور إيران لبحث الغاز والتجارة",
        [
            "بغداد — وصل رئيس الوزراء العراقي إلى طهران يوم الأربعاء لإجراء محادثات مع "
            "الرئيس الإيراني حول مدفوعات الغاز والمعابر الحدودية.",
            "وقال مسؤولون في العراق إن الحكومتين ستوقعان اتفاقيات في مجال الكهرباء والتجارة.",
            "ولا يزال العراق يشتري الغاز من إيران لتشغيل محطات الكهرباء.",
        ],
    ),
}

UNRELATED = [
    "Analysts said the talks mattered as much for the economy as for politics, with "
    "inflation and unemployment weighing on households.",
    "The central bank raised interest rates by half a point last month and warned that "
    "prices would keep rising.",
    "Doctors at the main hospital reported a rise in cases of respiratory illness and asked "
    "people to get vaccinated.",
    "The football league suspended two matches after crowd trouble, and the club's coach resigned.",
    "Les syndicats ont appelé à la grève pour protester contre la réforme des retraites.",
    "وقال محللون إن الاقتصاد يعاني من ارتفاع الأسعار والبطالة.",
    "Οι τιμές της ενέργειας αυξήθηκαν απότομα τον χειμώνα.",
    "Officials did not say when the negotiations would resume.",
    "“We will not accept any interference,” the minister told reporters.",
]

# Words for generated paragraphs: topic vocabulary and filler, several languages.
_VOCAB_TEXT = (
    "election vote parliament minister inflation prices market shares bank oil gas "
    "electricity hospital vaccine virus doctors football match league coach police court "
    "trial strike union workers climate flood drought talks agreement cooperation army "
    "attack ceasefire school students film festival the a of and said would after "
    "économie santé élections الانتخابات الاقتصاد المستشفى εκλογές οικονομία"
)


def _vocabulary() -> list[str]:
    return _VOCAB_TEXT.split()


@functools.cache
def _names_a_place(paragraph: str) -> bool:
    return bool(scan(_automaton(DEFAULT_RULES), normalise(paragraph)).places)


@st.composite
def generated_paragraph(draw: st.DrawFn) -> str:
    sentences = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        words = draw(st.lists(st.sampled_from(_vocabulary()), min_size=4, max_size=14))
        sentences.append(words[0].capitalize() + " " + " ".join(words[1:]) + ".")
    return " ".join(sentences)


_PARAGRAPHS = st.lists(st.sampled_from(UNRELATED) | generated_paragraph(), min_size=1, max_size=6)


def _tag(title: str, paragraphs: list[str]) -> TagResult:
    return tag_article(title, "", "\n\n".join(paragraphs))


def _scores(result: TagResult) -> dict[str, float]:
    return result.scores


def test_the_unrelated_paragraphs_name_no_place() -> None:
    for paragraph in UNRELATED:
        assert not _names_a_place(paragraph), paragraph
    for _, paragraphs in ARTICLES.values():
        assert all(_names_a_place(p) for p in paragraphs)


@pytest.mark.parametrize("language", sorted(ARTICLES))
def test_the_articles_are_tagged_with_their_countries(language: str) -> None:
    # Guards the property below against passing on articles the tagger finds nothing in.
    title, places = ARTICLES[language]
    result = _tag(title, places + UNRELATED)
    assert {"IQ", "IR"} <= set(result.countries)
    assert result.topics


@settings(max_examples=60, deadline=None)
@given(
    language=st.sampled_from(sorted(ARTICLES)),
    unrelated=_PARAGRAPHS,
    data=st.data(),
)
def test_tags_do_not_depend_on_where_unrelated_paragraphs_stand(
    language: str, unrelated: list[str], data: st.DataObject
) -> None:
    assume(not any(_names_a_place(p) for p in unrelated))
    title, places = ARTICLES[language]
    lead, rest = places[0], places[1:]
    # Reference: place paragraphs first, the unrelated ones after them in the drawn order.
    reference = _tag(title, [lead, *rest, *unrelated])
    # The same paragraphs, the unrelated ones shuffled in among the place paragraphs.
    shuffled = data.draw(st.permutations(unrelated), label="unrelated order")
    body = list(rest)
    for paragraph in shuffled:
        body.insert(data.draw(st.integers(0, len(body)), label="position"), paragraph)
    result = _tag(title, [lead, *body])
    assert (result.countries, result.regions, result.topics) == (
        reference.countries,
        reference.regions,
        reference.topics,
    )
    assert _scores(result) == pytest.approx(_scores(reference), rel=1e-9)


# The hot paths replace a regex scan by a walk over characters; these hold them to the
# regexes they stand for, on text mixing letters, digits (Arabic-Indic too), underscores,
# apostrophes, hyphens and several kinds of space.
_CHARS = st.sampled_from(list("ab AZ_'-19٣\n\t.,éßΩ\u00a0"))


@settings(max_examples=500, deadline=None)
@given(text=st.text(_CHARS, max_size=14), data=st.data())
def test_the_word_before_a_name_is_the_one_the_regex_finds(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)), label="sentence start")
    end = data.draw(st.integers(start, len(text)), label="name start")
    m = _NAME_BEFORE.search(text, start, end)
    assert _word_before(text, start, end) == (m.group(1) if m and m.end() == end else None)


@settings(max_examples=500, deadline=None)
@given(before=st.text(st.sampled_from(list("aAnNuUeEiIo _1.-éÑ\n")), max_size=7))
def test_the_origin_label_precheck_never_hides_an_article(before: str) -> None:
    text = before + " Iran"
    start = len(before) + 1
    if text[start - 2] in "aAnNe":
        full = _ORIGIN_ARTICLE.search(text, max(0, start - 6), start) is not None
        assert full <= _may_end_article(text[start - 3 : start - 2])


@settings(max_examples=500, deadline=None)
@given(text=st.text(st.sampled_from(list("aé بЖ’\u3000中ーイ\u0e01\uf900")) | st.characters()))
def test_the_script_precheck_never_misses_a_chinese_japanese_or_thai_character(
    text: str,
) -> None:
    # the automaton of names written without spaces runs only where this says so
    if any(_unspaced(c) for c in text):
        assert _may_be_unspaced(text)


def _sentence_starts_by_search(text: str) -> list[int]:
    """Sentence starts as the rule says: every occurrence of every separator, then the
    ones followed by a character that is neither lower case nor a space."""
    ends = {
        i + len(sep) for sep in _SENTENCE_ENDS for i in range(len(text)) if text.startswith(sep, i)
    }
    starts = (e for e in ends if e < len(text) and not text[e].islower())
    return [0, *sorted(e for e in starts if not text[e].isspace())]


@settings(max_examples=500, deadline=None)
@given(text=st.text(st.sampled_from(list("aB .!?\"'”\n。！？؟۔ب")), max_size=16))
def test_sentence_starts_are_every_separator_followed_by_a_new_sentence(text: str) -> None:
    assert Sentences(text).starts == _sentence_starts_by_search(text)
