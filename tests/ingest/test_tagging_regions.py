"""Region mapping: UN M49 sub-regions, the Middle East alias, user-typed region names."""

from __future__ import annotations

import pytest

from ingest.tagging import (
    UnknownRegionError,
    countries_for_region,
    region_names,
    regions_for_country,
)
from ingest.tagging.gazetteer import country_names

M49_SUB_REGIONS = {
    "Northern Africa", "Sub-Saharan Africa", "Latin America and the Caribbean",
    "Northern America", "Central Asia", "Eastern Asia", "South-eastern Asia", "Southern Asia",
    "Western Asia", "Eastern Europe", "Northern Europe", "Southern Europe", "Western Europe",
    "Australia and New Zealand", "Melanesia", "Micronesia", "Polynesia",
}  # fmt: skip


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("IR", ("Southern Asia", "Middle East")),
        ("IQ", ("Western Asia", "Middle East")),
        ("SD", ("Northern Africa",)),
        ("SS", ("Sub-Saharan Africa",)),
        ("CY", ("Western Asia", "Middle East")),
        ("TR", ("Western Asia", "Middle East")),
        ("GE", ("Western Asia",)),
        ("AM", ("Western Asia",)),
        ("AZ", ("Western Asia",)),
        ("EG", ("Northern Africa", "Middle East")),
        ("MX", ("Latin America and the Caribbean",)),
        ("GL", ("Northern America",)),
        ("TW", ("Eastern Asia",)),
        ("XK", ("Southern Europe",)),
        ("MV", ("Southern Asia",)),
        ("KI", ("Micronesia",)),
        ("MH", ("Micronesia",)),
        ("PS", ("Western Asia", "Middle East")),
        ("ps", ("Western Asia", "Middle East")),
        ("AQ", ()),
        ("ZZ", ()),
    ],
)
def test_regions_for_country(code: str, expected: tuple[str, ...]):
    assert regions_for_country(code) == expected


def test_every_country_has_one_m49_sub_region():
    for code in country_names():
        regions = regions_for_country(code)
        if code == "AQ":
            continue
        assert regions, code
        assert regions[0] in M49_SUB_REGIONS, (code, regions)


def test_middle_east_alias_is_the_fixed_list():
    middle_east = "BH CY EG IR IQ IL JO KW LB OM PS QA SA SY TR AE YE"
    assert countries_for_region("Middle East") == set(middle_east.split())


@pytest.mark.parametrize(
    ("name", "includes", "excludes"),
    [
        ("middle east", {"IR", "EG"}, {"GE", "AM"}),
        ("MIDDLE-EAST", {"IQ"}, set()),
        ("Western Africa", {"NG", "NE", "BJ"}, {"CM"}),
        ("west africa", {"NG"}, set()),
        ("Sahel", {"ML", "BF", "NE", "TD"}, {"EG"}),
        ("Gulf", {"SA", "AE", "QA"}, {"IR", "IQ"}),
        ("Balkans", {"RS", "XK", "BA"}, {"TR"}),
        ("Latin America", {"MX", "BR", "JM"}, {"US"}),
        ("Maghreb", {"MA", "DZ", "TN"}, {"EG"}),
        ("Horn of Africa", {"ET", "SO"}, {"KE"}),
        ("Caucasus", {"GE", "AM", "AZ"}, {"RU"}),
        ("Southeast Asia", {"PH", "VN"}, {"CN"}),
        ("south-eastern asia", {"PH"}, set()),
        ("Europe", {"FR", "RU", "XK"}, {"TR"}),
        ("Africa", {"EG", "ZA"}, set()),
        ("Oceania", {"KI", "AU"}, set()),
        ("Americas", {"US", "BR", "GL"}, set()),
        ("Asia", {"TW", "IR", "CY"}, set()),
    ],
)
def test_countries_for_region(name: str, includes: set[str], excludes: set[str]):
    got = countries_for_region(name)
    assert includes <= got
    assert not (excludes & got)


def test_region_names_include_m49_and_aliases():
    names = set(region_names())
    assert names >= M49_SUB_REGIONS
    assert {"Middle East", "Sahel", "Gulf", "Balkans", "Latin America", "Western Africa"} <= names


def test_extra_aliases_from_config():
    extra = {"Nordics": ["dk", "FI", "IS", "NO", "SE"]}
    assert countries_for_region("nordics", extra) == {"DK", "FI", "IS", "NO", "SE"}
    assert "Nordics" in region_names(extra)
    assert "Nordics" not in region_names()


def test_unknown_region_suggests_close_names():
    with pytest.raises(UnknownRegionError) as err:
        countries_for_region("Midle East")
    assert "Middle East" in err.value.suggestions
    assert "Midle East" in str(err.value)
