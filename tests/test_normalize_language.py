"""detect_language: a plausible declared tag wins; detection abstains when unsure."""

from __future__ import annotations

import pytest

from ingest.normalize import detect_language, normalize_language_tag

# Sample sentences written for these tests.
SAMPLES = [
    (
        "رئيس الوزراء العراقي يصل إلى طهران في زيارة رسمية لبحث التعاون الاقتصادي "
        "والأمني بين البلدين الجارين",
        "ar",
    ),
    ("伊拉克总理周三抵达德黑兰，与伊朗总统举行会谈，双方同意扩大贸易、能源和交通合作。", "zh"),
    (
        "El primer ministro iraquí llegó a Teherán el miércoles para hablar de comercio, "
        "energía y seguridad con el gobierno iraní.",
        "es",
    ),
    (
        "इराक के प्रधानमंत्री बुधवार को तेहरान पहुंचे और ईरान के राष्ट्रपति से व्यापार तथा सुरक्षा पर बातचीत की।",
        "hi",
    ),
    (
        "The Iraqi prime minister arrived in Tehran on Wednesday for talks on trade, "
        "energy and security with the Iranian government.",
        "en",
    ),
]


@pytest.mark.parametrize(("text", "language"), SAMPLES)
def test_detects_language_of_a_sentence(text: str, language: str) -> None:
    assert detect_language(text, None) == language


@pytest.mark.parametrize("text", ["", "ok", "12345 !!!", "iPhone 16", "COVID-19", "   "])
def test_short_or_non_linguistic_text_is_unknown(text: str) -> None:
    assert detect_language(text, None) is None


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("en", "en"),
        ("EN-us", "en-US"),
        ("pt_BR", "pt-BR"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("es-419", "es-419"),
        ("fil", "fil"),
        ("und", None),
        ("english", None),
        ("e", None),
        ("en-", None),
        ("", None),
        (None, None),
        ("en US", None),
    ],
)
def test_normalize_language_tag(declared: str | None, expected: str | None) -> None:
    assert normalize_language_tag(declared) == expected


def test_declared_language_wins_over_detection() -> None:
    spanish = SAMPLES[2][0]
    assert detect_language(spanish, "ca") == "ca"
    assert detect_language(spanish, "fr_fr") == "fr-FR"


def test_implausible_declaration_falls_back_to_detection() -> None:
    arabic = SAMPLES[0][0]
    assert detect_language(arabic, "Arabic (Iraq)") == "ar"
