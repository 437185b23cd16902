"""The tagger's own errors."""

from __future__ import annotations


class TaggingError(Exception):
    """Root of the tagger's errors."""


class UnknownRegionError(TaggingError, KeyError):
    """A region name that is neither an M49 name nor a known alias."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"unknown region {name!r}.{hint} Valid names are the UN M49 regions, "
            "sub-regions and intermediate regions plus aliases such as 'Middle East', "
            "'Sahel' and 'Gulf' (ingest.tagging.region_names() lists them); config.yaml "
            "can add aliases."
        )
        self.name = name
        self.suggestions = suggestions

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class TaggingDataError(TaggingError):
    """A packaged data table is missing or malformed (a broken install)."""
