"""MinHash signatures, LSH bands and the Jaccard estimate."""

from __future__ import annotations

import random

import pytest

from ingest.dedupe import (
    DEFAULT_BANDS,
    candidate_probability,
    estimated_jaccard,
    lsh_bands,
    minhash_signature,
    signature_from_bytes,
    signature_to_bytes,
)
from ingest.dedupe.minhash import CHAR_SHINGLE, WORD_SHINGLE, shingle_hashes

_RNG = random.Random(20250110)
_VOCABULARY = [
    "".join(_RNG.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_RNG.randint(2, 10)))
    for _ in range(4000)
]


def _article(seed: int, words: int = 600) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(_VOCABULARY) for _ in range(words)]


def _text(words: list[str]) -> str:
    """Paragraphs of 60 words, as html_to_text would give them."""
    return "\n\n".join(" ".join(words[i : i + 60]) for i in range(0, len(words), 60))


def _edit(words: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = list(words)
    for i in rng.sample(range(len(out)), count):
        out[i] = f"edited{i}"
    return out


def _exact_jaccard(a: str, b: str) -> float:
    sa, sb = set(shingle_hashes(a).tolist()), set(shingle_hashes(b).tolist())
    return len(sa & sb) / len(sa | sb)


def test_signature_shape_and_determinism() -> None:
    text = _text(_article(1))
    sig = minhash_signature(text)
    assert len(sig) == 128
    assert all(isinstance(v, int) and 0 <= v < 2**32 for v in sig)
    assert minhash_signature(text) == sig
    assert len(minhash_signature(text, num_perm=64)) == 64


def test_identical_texts_estimate_one() -> None:
    text = _text(_article(2))
    assert estimated_jaccard(minhash_signature(text), minhash_signature(text)) == 1.0


def test_whitespace_and_case_do_not_change_the_signature() -> None:
    words = _article(3)
    assert minhash_signature(_text(words)) == minhash_signature(" ".join(words).upper())


@pytest.mark.parametrize(("edits", "seed"), [(3, 1), (10, 2), (30, 3), (60, 4), (120, 5)])
def test_estimate_tracks_the_exact_jaccard(edits: int, seed: int) -> None:
    words = _article(10 + seed)
    a, b = _text(words), _text(_edit(words, edits, seed))
    exact = _exact_jaccard(a, b)
    estimate = estimated_jaccard(minhash_signature(a), minhash_signature(b))
    # The standard error is at most 0.045 with 128 permutations: 4 of them is generous.
    assert abs(estimate - exact) < 0.18


def test_unrelated_texts_are_far_apart_and_share_no_band() -> None:
    a, b = minhash_signature(_text(_article(21))), minhash_signature(_text(_article(22)))
    assert estimated_jaccard(a, b) < 0.1
    assert not set(lsh_bands(a)) & set(lsh_bands(b))


def test_near_duplicates_share_a_band() -> None:
    words = _article(23)
    a = minhash_signature(_text(words))
    b = minhash_signature(_text(_edit(words, 6, 23)))
    assert estimated_jaccard(a, b) >= 0.8
    assert set(lsh_bands(a)) & set(lsh_bands(b))


def test_bands_are_indexed_signed_64_bit_ints() -> None:
    bands = lsh_bands(minhash_signature(_text(_article(24))))
    assert [index for index, _ in bands] == list(range(DEFAULT_BANDS))
    assert all(-(2**63) <= value < 2**63 for _, value in bands)
    assert len({value for _, value in bands}) == DEFAULT_BANDS
    assert len(lsh_bands(minhash_signature(_text(_article(24))), bands=32)) == 32


def test_bands_must_divide_the_signature() -> None:
    with pytest.raises(ValueError, match="divide"):
        lsh_bands(minhash_signature("some words to sign here"), bands=30)


def test_empty_text_has_no_signature_no_bands_and_matches_nothing() -> None:
    assert minhash_signature("") == ()
    assert minhash_signature("!!! ---") == ()
    assert lsh_bands(()) == []
    assert estimated_jaccard((), ()) == 0.0


def test_short_texts_get_one_shingle() -> None:
    assert len(shingle_hashes("two words")) == 1
    sig = minhash_signature("two words")
    assert sig == minhash_signature("Two, words!")
    assert estimated_jaccard(sig, minhash_signature("two birds")) == 0.0


def test_signatures_of_different_lengths_cannot_be_compared() -> None:
    text = _text(_article(25))
    with pytest.raises(ValueError, match="length"):
        estimated_jaccard(minhash_signature(text), minhash_signature(text, num_perm=64))


def test_signature_bytes_round_trip() -> None:
    sig = minhash_signature(_text(_article(26)))
    packed = signature_to_bytes(sig)
    assert len(packed) == 8 * 128
    assert signature_from_bytes(packed) == sig


# Written for these tests (Chinese and Thai: no spaces between words).
CHINESE = (
    "周一晚间暴雨淹没了港口城市的低洼地区，数百个家庭在黎明前被迫撤离。市政委员会表示，"
    "停电导致抽水站失灵，工程师预计将在两天内恢复运行。受影响地区的学校将停课至周四。"
    "气象部门警告说，本周晚些时候可能还会有更多降雨，居民应远离河岸并留意官方通知。"
)
CHINESE_OTHER = (
    "中央银行周三宣布将基准利率维持不变，并表示通胀压力有所缓解。行长在新闻发布会上说，"
    "出口增长放缓，但国内消费保持稳定。分析人士预计，明年上半年可能会有一次小幅降息。"
)
THAI = (
    "ฝนตกหนักเมื่อคืนวันจันทร์ทำให้น้ำท่วมย่านที่ลุ่มของเมืองท่า ครอบครัวหลายร้อยครอบครัวต้องอพยพออกจากบ้านก่อนรุ่งสาง "
    "สภาเทศบาลระบุว่าสถานีสูบน้ำหยุดทำงานหลังจากไฟฟ้าดับ และวิศวกรคาดว่าจะซ่อมเสร็จภายในสองวัน"
)


def test_scripts_without_spaces_use_character_shingles() -> None:
    chars = len([c for c in CHINESE if c.isalnum()])
    # One shingle per position: the text is not one giant "word".
    assert len(shingle_hashes(CHINESE)) == chars - CHAR_SHINGLE + 1
    words = "one two three four five six seven eight nine ten eleven twelve"
    assert len(shingle_hashes(words)) == 12 - WORD_SHINGLE + 1


@pytest.mark.parametrize(
    ("text", "edited"),
    [
        (CHINESE, CHINESE.replace("两天", "三天")),
        (THAI, THAI.replace("สองวัน", "สามวัน")),
    ],
)
def test_near_duplicates_in_scripts_without_spaces(text: str, edited: str) -> None:
    assert estimated_jaccard(minhash_signature(text), minhash_signature(edited)) >= 0.8


def test_different_chinese_stories_are_far_apart() -> None:
    a, b = minhash_signature(CHINESE), minhash_signature(CHINESE_OTHER)
    assert estimated_jaccard(a, b) < 0.2


@pytest.mark.parametrize(
    ("jaccard", "bands", "rows", "low", "high"),
    [
        (0.8, 32, 4, 0.9999999, 1.0),
        (0.5, 32, 4, 0.87, 0.88),
        (0.3, 32, 4, 0.22, 0.24),
        (0.1, 32, 4, 0.003, 0.0033),
        (0.8, 16, 8, 0.94, 0.95),
    ],
)
def test_s_curve_in_the_docstring(
    jaccard: float, bands: int, rows: int, low: float, high: float
) -> None:
    assert low <= candidate_probability(jaccard, bands, rows) <= high
