"""Long lists cut into statements of bounded size (IN lists, multi-row INSERTs)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

#: Values per IN list or statement: far below SQLite's 32,766 bound parameters, and small
#: enough that PostgreSQL plans each list quickly.
IN_LIST_SIZE = 500

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
