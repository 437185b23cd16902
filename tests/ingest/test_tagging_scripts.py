"""Country names in scripts that join words: Arabic clitics and inflections, CJK without spaces.

Arabic writes "and", "in", "for" joined to the next word and inflects demonyms for gender and
number; Chinese and Japanese put no space between words. The gazetteer holds one spelling;
these tests hold the matcher to the forms real text uses, and to the words that merely
contain a name.
"""

from __future__ import annotations

import pytest

from ingest.tagging import arabic, tag_article
from ingest.tagging.matcher import scan
from ingest.tagging.rules import DEFAULT_RULES
from ingest.tagging.tagger import _automaton
from ingest.tagging.text import normalise


def hits(text: str) -> set[tuple[str, str]]:
    """(country code, surface) of every place reference in ``text``."""
    found = scan(_automaton(DEFAULT_RULES), normalise(text)).places
    return {(h.item.codes[0], h.surface) for h in found if h.item.codes}


# (sentence, country, the form as written)
ARABIC_FORMS = [
    # plural demonyms, nominative and oblique, with and without the article
    ("قال مسؤولون عراقيون إن المحادثات ستستمر.", "IQ", "عراقيون"),
    ("التقى الوزير بالعراقيين المقيمين في الخارج.", "IQ", "بالعراقيين"),
    ("أعلن إيرانيون معارضون تأسيس حزب جديد في المنفى.", "IR", "إيرانيون"),
    ("وقالت الإيرانيات المشاركات في المؤتمر إن القانون ظالم.", "IR", "الإيرانيات"),
    ("عاد آلاف السوريين إلى بلادهم هذا العام.", "SY", "السوريين"),
    ("وقال سوريون في المخيم إن المساعدات لم تصل.", "SY", "سوريون"),
    ("تظاهر اللبنانيون أمام البرلمان.", "LB", "اللبنانيون"),
    ("وقالت وزيرة ألمانية إن بلادها ستساعد.", "DE", "ألمانية"),
    ("وصل الرئيس الفرنسي إلى الجزائر.", "FR", "الفرنسي"),
    ("وطالب الأردنيون بخفض الأسعار.", "JO", "الأردنيون"),
    # joined conjunctions and prepositions; "ل" before the article drops its alif, and one
    # lam more before a word that starts with lam
    ("وصلت المساعدات إلى سوريا والأردن.", "JO", "والأردن"),
    ("قدم البنك الدولي قرضا للعراق.", "IQ", "للعراق"),
    ("تعمل الشركة بالعراق منذ عشر سنوات.", "IQ", "بالعراق"),
    ("وقال إن لمصر دورا في الوساطة.", "EG", "لمصر"),
    ("وتسعى فرنسا وبريطانيا إلى اتفاق.", "GB", "وبريطانيا"),
    ("وقدمت الحكومة دعما للبنانيين المتضررين.", "LB", "للبنانيين"),
    ("ووعد الوزير بمساعدة للإيرانيين العالقين.", "IR", "للإيرانيين"),
    # the hamza on alif, written or not
    ("قال مسؤول ايراني إن الاتفاق قريب.", "IR", "ايراني"),
    ("زار الوزير أوكرانيا واوكرانيا الغربية.", "UA", "واوكرانيا"),
]

# (sentence, a country it does not refer to): words that contain a name or a demonym
ARABIC_NON_REFERENCES = [
    ("وضعت الحكومة عراقيل أمام المستثمرين الأجانب.", "IQ"),  # obstacles
    ("تحدث الكاتب عن العراقة والأصالة في العمارة القديمة.", "IQ"),  # heritage
    ("لقي ثلاثة أشخاص مصرعهم في حادث سير.", "EG"),  # were killed
    ("رفع المصرف المركزي أسعار الفائدة.", "EG"),  # the bank
    ("قال مسؤولون إن المباحثات ستستمر.", "IQ"),
]


@pytest.mark.parametrize(("sentence", "code", "surface"), ARABIC_FORMS)
def test_arabic_inflected_and_prefixed_forms_are_found(
    sentence: str, code: str, surface: str
) -> None:
    assert (code, surface) in hits(sentence)


@pytest.mark.parametrize(("sentence", "code"), ARABIC_NON_REFERENCES)
def test_arabic_words_containing_a_name_are_not_references(sentence: str, code: str) -> None:
    assert code not in {c for c, _ in hits(sentence)}


def test_an_arabic_article_about_refugees_is_tagged_from_plural_forms_only() -> None:
    # Syria is never named: only "Syrians" in three forms, one behind a preposition
    result = tag_article(
        "لاجئون يعودون إلى بلادهم بعد سنوات",
        "",
        "قال لاجئون سوريون في مخيم قرب الحدود إن الطرق أصبحت أكثر أمانا. "
        "وطالب السوريون العائدون بمساعدات لإعادة بناء منازلهم. "
        "وقدمت منظمات إغاثة دعما للسوريين في الشتاء.",
    )
    assert result.countries == ("SY",)
    assert set(result.evidence["countries"]["SY"]) == {"سوريون", "السوريون", "للسوريين"}


def test_an_arabic_title_with_a_plural_demonym_tags_the_country() -> None:
    assert tag_article("إيرانيون يحتجون على ارتفاع الأسعار").countries == ("IR",)


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ("العراقيين", {"عراقي", "عراقية", "عراقيون", "العراقيات", "العراقيان", "العراقي"}),
        ("عراقية", {"العراقي", "عراقيين"}),
        ("العراق", {"العراق"}),  # a name, not a nisba: no inflection
        ("الولايات المتحدة", {"الولايات المتحدة"}),
    ],
)
def test_nisba_forms(form: str, expected: set[str]) -> None:
    forms = arabic.nisba_forms(form)
    assert expected <= set(forms)
    assert forms[0] == form
    if not form.endswith(("ي", "ين", "ية")):
        assert forms == [form]


def test_proclitics_follow_the_spelling_rules() -> None:
    assert "للعراق" in arabic.with_proclitics("العراق")
    assert "وللعراق" in arabic.with_proclitics("العراق")
    assert "بالعراق" in arabic.with_proclitics("العراق")
    assert "للبنانيين" in arabic.with_proclitics("اللبنانيين")
    assert "لالعراق" not in arabic.with_proclitics("العراق")
    assert "لإيران" in arabic.with_proclitics("إيران")


# (title, content, must include, must not include)
CJK_CASES = [
    # Simplified Chinese: names inside running text with no space around them
    (
        "伊拉克总理访问伊朗",
        "伊拉克总理周三抵达德黑兰，与伊朗总统举行会谈。双方签署了能源和贸易协议。",
        {"IQ", "IR"},
        set(),
    ),
    # Traditional Chinese
    ("中國與美國恢復貿易談判", "", {"CN", "US"}, set()),
    # the longer name wins: Indonesia, not India
    ("印度尼西亚总统访问中国", "", {"ID", "CN"}, {"IN"}),
    # Japanese: katakana and kanji names followed by particles
    ("イラクの首相がイランを訪問", "両国は電力と貿易の協定に署名した。", {"IQ", "IR"}, set()),
    ("韓国と日本が首脳会談", "", {"KR", "JP"}, set()),
    # katakana words that contain a name (title, type; chili sauce; Maria) are not references
    ("新しいタイトルとタイプの紹介", "", set(), {"TH"}),
    ("チリソースの作り方", "", set(), {"CL"}),
    ("マリアさんのコンサート", "", set(), {"ML"}),
    # a longer place containing a country's name: a US state, the West Bank (not Mali,
    # Mexico, Jordan); seas, gulfs and rivers are no reference to the country they name
    ("马里兰州州长宣布紧急状态", "", {"US"}, {"ML"}),
    ("新墨西哥州发生山火", "", {"US"}, {"MX"}),
    ("约旦河西岸爆发冲突", "", {"PS"}, {"JO"}),
    ("印度洋发生强烈地震", "", set(), {"IN"}),
    ("几内亚湾海盗袭击油轮", "", set(), {"GN"}),
    ("日本海发现新油田", "", set(), {"JP"}),
    ("巴布亚新几内亚总理访问中国", "", {"PG", "CN"}, {"GN"}),
    ("インド洋で強い地震", "", set(), {"IN"}),
    ("ギニア湾で海賊が船を襲撃", "", set(), {"GN"}),
]


@pytest.mark.parametrize(("title", "content", "present", "absent"), CJK_CASES)
def test_cjk_names_without_spaces(
    title: str, content: str, present: set[str], absent: set[str]
) -> None:
    got = set(tag_article(title, "", content).countries)
    assert present <= got, got
    assert not (absent & got), got


def test_a_chinese_name_is_found_mid_sentence() -> None:
    assert {("US", "美国"), ("IR", "伊朗")} <= hits("美国和伊朗的关系再度紧张")
