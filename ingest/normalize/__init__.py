"""Normalization: parsed feed entries -> canonical, safe, storable values.

Every function here is pure (no I/O, time passed in). The entry point is
:func:`normalize_entry`; the pieces are public for the store and the tests.
"""

from ingest.normalize.dates import (
    DEFAULT_MAX_SKEW,
    UNSTABLE_DATE_FLAGS,
    DateFlag,
    NormalizedDates,
    normalize_dates,
)
from ingest.normalize.entry import (
    DEFAULT_SETTINGS,
    NormalizedEntry,
    NormalizeSettings,
    content_hash,
    normalize_entry,
)
from ingest.normalize.errors import InvalidURLError, NormalizeError
from ingest.normalize.html import MAX_HTML_CHARS, html_to_text, sanitize_html
from ingest.normalize.keys import (
    BAD_GUID_SHARE,
    KeyPolicy,
    choose_key_policy,
    entry_key,
    key_for_policy,
    key_with_date_flags,
)
from ingest.normalize.language import detect_language, normalize_language_tag
from ingest.normalize.urls import MAX_URL_CHARS, TRACKING_PARAMS, canonical_url

__all__ = [
    "BAD_GUID_SHARE",
    "DEFAULT_MAX_SKEW",
    "DEFAULT_SETTINGS",
    "MAX_HTML_CHARS",
    "MAX_URL_CHARS",
    "TRACKING_PARAMS",
    "UNSTABLE_DATE_FLAGS",
    "DateFlag",
    "InvalidURLError",
    "KeyPolicy",
    "NormalizeError",
    "NormalizeSettings",
    "NormalizedDates",
    "NormalizedEntry",
    "canonical_url",
    "choose_key_policy",
    "content_hash",
    "detect_language",
    "entry_key",
    "html_to_text",
    "key_for_policy",
    "key_with_date_flags",
    "normalize_dates",
    "normalize_entry",
    "normalize_language_tag",
    "sanitize_html",
]
