"""Countries -> UN M49 regions, and user-typed region names -> countries.

Sources: ``data/m49.tsv`` (UN Statistics Division M49: region, sub-region, intermediate
region) and ``data/region_aliases.tsv`` (the names users type: "Middle East", "Sahel",
"Gulf"...). A tag's regions are the country's M49 sub-region plus "Middle East" when it is in
that alias: the vocabulary of the tagger's output. Subscribers may follow any name that
:func:`region_names` lists; :func:`countries_for_region` resolves it.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping

from .errors import TaggingDataError, UnknownRegionError
from .gazetteer import read_table

MIDDLE_EAST = "Middle East"


def _key(name: str) -> str:
    # "South-eastern Asia", "south eastern asia" and "SOUTHEASTERN ASIA" are one name
    return re.sub(r"[\W\d_]+", "", name.casefold())


@functools.cache
def _m49() -> dict[str, tuple[str, str, str]]:
    """code -> (region, sub-region, intermediate region or "")."""
    rows = read_table("m49.tsv")
    return {row[0]: (row[1], row[2], row[3] if len(row) > 3 else "") for row in rows}


@functools.cache
def _base_regions() -> dict[str, tuple[str, frozenset[str]]]:
    """key -> (display name, countries) for every M49 name and packaged alias."""
    groups: dict[str, set[str]] = {}
    for code, levels in _m49().items():
        for name in levels:
            if name:
                groups.setdefault(name, set()).add(code)
    out = {_key(n): (n, frozenset(c)) for n, c in groups.items()}
    for row in read_table("region_aliases.tsv"):
        name, spec = row[0], row[1]
        codes: set[str] = set()
        parts = spec.split(";") if spec.startswith("*") else spec.split()
        for part in parts:
            if part.startswith("*"):
                target = out.get(_key(part[1:]))
                if target is None:
                    raise TaggingDataError(f"region_aliases.tsv: {name!r} refers to {part!r}")
                codes |= target[1]
            else:
                codes.add(part)
        out[_key(name)] = (name, frozenset(codes))
    return out


def _regions(
    extra_aliases: Mapping[str, Iterable[str]] | Iterable[tuple[str, Iterable[str]]] | None,
) -> dict[str, tuple[str, frozenset[str]]]:
    base = _base_regions()
    if not extra_aliases:
        return base
    items = extra_aliases.items() if isinstance(extra_aliases, Mapping) else extra_aliases
    merged = dict(base)
    for name, codes in items:
        merged[_key(name)] = (name, frozenset(c.upper() for c in codes))
    return merged


def region_names(
    extra_aliases: Mapping[str, Iterable[str]] | Iterable[tuple[str, Iterable[str]]] | None = None,
) -> list[str]:
    """Every region name a subscriber may follow, sorted."""
    return sorted(name for name, _ in _regions(extra_aliases).values())


def countries_for_region(
    name: str,
    extra_aliases: Mapping[str, Iterable[str]] | Iterable[tuple[str, Iterable[str]]] | None = None,
) -> frozenset[str]:
    """The ISO alpha-2 codes in a region, by any of its names (case-insensitive).

    Raises UnknownRegionError, with close names as suggestions, for an unknown name.
    """
    table = _regions(extra_aliases)
    found = table.get(_key(name))
    if found is None:
        names = {k: n for k, (n, _) in table.items()}
        close = difflib.get_close_matches(_key(name), list(names), n=3, cutoff=0.6)
        raise UnknownRegionError(name, [names[k] for k in close])
    return found[1]


@functools.cache
def regions_for_country(code: str) -> tuple[str, ...]:
    """The output regions of one country: its M49 sub-region, plus "Middle East" if in it.

    Unknown codes and Antarctica (no M49 region) give ().
    """
    levels = _m49().get(code.upper())
    if levels is None:
        return ()
    out = [levels[1]]
    if code.upper() in _base_regions()[_key(MIDDLE_EAST)][1]:
        out.append(MIDDLE_EAST)
    return tuple(out)
