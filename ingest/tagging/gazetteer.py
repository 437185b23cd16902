"""The packaged data tables, read once, as patterns for the matcher.

Sources and choices are documented in ``data/README.md``. Names from ``names.tsv`` (curated)
win over the same spelling from ``countries.tsv`` (ISO), ``names_i18n.tsv`` (translations)
and ``cities.tsv`` (GeoNames), in that order; a spelling that two sources of the same rank
give to different countries is dropped as ambiguous.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from . import arabic
from .errors import TaggingDataError
from .text import fold_accents, lower_keep_length

KINDS = ("name", "demonym", "capital", "city", "metonym", "place", "abbrev", "blocker")
# Folded spellings that are English words, and translated names that are first names.
_NO_VARIANT = {"Reunion"}
# "عمان" is Oman but, without its shadda, also Amman.
_SKIP_I18N = {"Maurice", "Salomon", "Georgien", "عمان"}


@dataclass(frozen=True, slots=True)
class Place:
    """One spelling of a reference to a country (or a blocker when ``codes`` is empty)."""

    form: str
    codes: tuple[str, ...]  # first is the default reading; empty = not a country
    kind: str
    key: str  # the lower-cased spelling: one name, however it is capitalised
    exact: bool = False  # case-sensitive (acronyms)
    cased: bool = True  # the text must start with a capital letter (proper nouns)
    person: bool = False  # also a common personal name
    weak: bool = False  # never a tag by itself
    local: bool = False  # other readings need a place inside their country as evidence


def read_table(name: str) -> Iterator[list[str]]:
    """Rows of a packaged TSV table, without comments and blank lines."""
    try:
        text = (
            resources.files(__package__).joinpath("data").joinpath(name).read_text(encoding="utf-8")
        )
    except OSError as e:
        raise TaggingDataError(
            f"tagger data table {name!r} is missing ({e}); reinstall newsdigest"
        ) from e
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            yield line.split("\t")


def _is_cased(form: str) -> bool:
    first = next((c for c in form if c.isalpha()), "")
    return first.isupper()


def _is_acronym(form: str) -> bool:
    letters = [c for c in form if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _variants(form: str, kind: str, fold: bool) -> list[str]:
    out = [form]
    folded = fold_accents(form)
    # Folding is for English-language text that drops accents ("Turkiye", "Bogota"); folded
    # translations would invent words ("Irã" -> "Ira").
    if fold and folded != form and folded not in _NO_VARIANT:
        out.append(folded)
    if kind == "demonym" and arabic.is_arabic(form[:1]):
        out = arabic.nisba_forms(form)  # "عراقي" -> "عراقية", "العراقيون"...
    if kind == "demonym" and _is_cased(form):
        for f in list(out):
            if not f.endswith(("s", "sh", "ch", "ese", "x", "z", "i")) or f.endswith("i"):
                out.append(f + "s")
    return out


def _places(
    form: str, codes: tuple[str, ...], kind: str, flags: set[str], fold: bool = True
) -> list[Place]:
    return [
        Place(
            form=v,
            codes=codes,
            kind=kind,
            key=lower_keep_length(v),
            exact="exact" in flags or _is_acronym(v),
            cased=_is_cased(v),
            person="person" in flags,
            weak="weak" in flags,
            local="local" in flags,
        )
        for v in _variants(form, kind, fold)
    ]


def _iso_forms(name: str) -> str:
    return name.split(",")[0].split("(")[0].strip()


@functools.cache
def country_names() -> dict[str, str]:
    """ISO alpha-2 code -> English short name (pycountry's common name when it has one)."""
    out = {}
    for code, name, _official, common, *_ in read_table("countries.tsv"):
        out[code] = common or name
    return out


@functools.cache
def places() -> tuple[Place, ...]:
    """Every country reference pattern, de-duplicated by lower-cased spelling."""
    ranked: list[dict[str, list[Place]]] = [{}, {}, {}, {}]

    def add(rank: int, form: str, codes: tuple[str, ...], kind: str, flags: set[str]) -> None:
        for p in _places(form, codes, kind, flags, fold=rank != 2):
            ranked[rank].setdefault(p.key, []).append(p)

    for row in read_table("names.tsv"):
        codes_s, kind, forms = row[0], row[1], row[2]
        flags = set(row[3].split(",")) if len(row) > 3 and row[3] else set()
        if kind not in KINDS:
            raise TaggingDataError(f"names.tsv: unknown kind {kind!r} in {row!r}")
        codes = () if codes_s == "-" else tuple(codes_s.split("|"))
        for form in forms.split("/"):
            if form:
                add(0, form, codes, kind, flags)
    for code, name, official, common, *_ in read_table("countries.tsv"):
        for form in {_iso_forms(name), official, common} - {""}:
            add(1, form, (code,), "name", set())
    for code, _lang, name in read_table("names_i18n.tsv"):
        if name not in _SKIP_I18N:
            add(2, name, (code,), "name", set())
    for name, code, _pop in read_table("cities.tsv"):
        add(3, name, (code,), "city", set())

    chosen: dict[str, Place] = {}
    for rank, table in enumerate(ranked):
        for key, cands in table.items():
            if key in chosen:
                continue
            if rank == 0:
                # curated rows: the same spelling twice means the later row is a refinement
                # (e.g. a demonym listed again with flags); keep the first, it is the default
                chosen[key] = cands[0]
            elif len({c.codes for c in cands}) == 1:
                chosen[key] = cands[0]
    return tuple(chosen.values())
