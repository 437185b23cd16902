"""The digest exception tree.

    DigestError                  anything digest raises on purpose
    ├── UnknownTimeZoneError     a subscriber's time zone is not in the tz database
    ├── InvalidTimeError         a naive datetime or an inverted window reached a decision
    ├── InvalidPrefsError        a subscriber's preferences are inconsistent
    └── TemplateError            a template is missing, broken, or escapes its folder
                                 (carries the file and line)

Messages are one line a user can act on.
"""

from __future__ import annotations


class DigestError(Exception):
    """Root of the errors digest raises on purpose."""


class UnknownTimeZoneError(DigestError, ValueError):
    """A time zone name that zoneinfo does not know; ``suggestions`` holds close names."""

    def __init__(self, name: str, suggestions: tuple[str, ...] = ()) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/London'{hint}"
        )
        self.name = name
        self.suggestions = suggestions


class InvalidTimeError(DigestError, ValueError):
    """A datetime without a time zone, or a window whose end precedes its start."""


class InvalidPrefsError(DigestError, ValueError):
    """A subscriber preference out of range (weekday, limits, grouping)."""


class TemplateError(DigestError):
    """A digest template could not be loaded, compiled or rendered.

    ``filename`` and ``lineno`` point at the template when they are known.
    """

    def __init__(self, message: str, filename: str | None = None, lineno: int | None = None):
        where = filename or "template"
        if lineno is not None:
            where = f"{where}:{lineno}"
        super().__init__(f"{where}: {message}")
        self.filename = filename
        self.lineno = lineno
