"""The decompressed copy of py3langid's model: same answers, used when good, never needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

from ingest.normalize import langid_model
from ingest.normalize.langid_model import cache_dir, load_identifier

SAMPLES = [
    "The prime minister met his counterpart in Tehran for talks on trade and security.",
    "Le Premier ministre a rencontré son homologue à Téhéran pour parler de commerce.",
    "رئيس الوزراء العراقي يلتقي نظيره الإيراني في طهران لبحث التعاون الاقتصادي",
    "伊拉克总理抵达德黑兰，与伊朗总统举行会谈。",
    "Премьер-министр Ирака прибыл в Тегеран для переговоров.",
    "12345 !!! ###",
]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEWSDIGEST_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def original() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _copies(cache: Path) -> list[Path]:
    return sorted(cache.glob("py3langid-*.npz"))


def test_the_copy_answers_exactly_as_the_original(
    cache: Path, original: LanguageIdentifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_identifier()
    assert len(_copies(cache)) == 1

    # The second load must come from the copy: the original file is not read again.
    def refuse(path: Path) -> None:
        raise AssertionError(f"read the compressed model {path} although a copy exists")

    monkeypatch.setattr(langid_model, "load_model", refuse)
    second = load_identifier()
    for text in SAMPLES:
        assert first.rank(text) == original.rank(text)
        assert second.rank(text) == original.rank(text)


def test_a_damaged_copy_is_replaced(
    cache: Path, original: LanguageIdentifier, caplog: pytest.LogCaptureFixture
) -> None:
    load_identifier()
    (copy,) = _copies(cache)
    copy.write_bytes(copy.read_bytes()[:1000])  # cut short, as by a full disk
    identifier = load_identifier()
    assert "ignoring the cached language model" in caplog.text
    assert identifier.rank(SAMPLES[1]) == original.rank(SAMPLES[1])
    assert copy.stat().st_size > 10_000_000  # written whole again
    assert [p.name for p in cache.iterdir()] == [copy.name]  # no temporary file left


def test_an_unwritable_cache_only_costs_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, original: LanguageIdentifier
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("NEWSDIGEST_CACHE_DIR", str(blocker / "cache"))
    identifier = load_identifier()
    assert identifier.rank(SAMPLES[0]) == original.rank(SAMPLES[0])


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSDIGEST_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "newsdigest"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "newsdigest"
    monkeypatch.setenv("NEWSDIGEST_CACHE_DIR", str(tmp_path / "own"))
    assert cache_dir() == tmp_path / "own"


def test_the_copy_is_named_for_the_installed_model(cache: Path) -> None:
    load_identifier()
    (copy,) = _copies(cache)
    size = (MODEL_DIR / MODEL_FILE).stat().st_size
    assert f"-{size}-" in copy.name
