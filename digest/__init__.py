"""Stored articles -> composed, rendered, archived digests.

The names other packages use::

    from digest import compose_digest, prepare, Renderer, SubscriberPrefs, period_for
    pool = prepare(articles)                       # once per window
    d = compose_digest(pool, prefs, (start, end), region_countries=resolver, now=now)
    Renderer().page(d)

(``compose_digest`` and ``digest_window`` are ``digest.compose.compose`` and
``digest.window.window``: the package cannot export names its submodules already own.)

Subscribers (``validate``, ``add_subscriber``, ``list_subscribers``, ...) live in
:mod:`digest.subscribers`, the archive in :mod:`digest.archive`. Names are imported on first
use (PEP 562), so ``import digest`` stays cheap and pulls in neither Jinja nor SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_ALIASES = {"compose_digest": "compose", "digest_window": "window"}
_EXPORTS = {
    "compose_digest": "digest.compose",
    "prepare": "digest.compose",
    "select": "digest.compose",
    "StoryPool": "digest.compose",
    "RegionResolver": "digest.compose",
    "Digest": "digest.types",
    "DigestArticle": "digest.types",
    "DigestItem": "digest.types",
    "Limits": "digest.types",
    "Section": "digest.types",
    "SubscriberPrefs": "digest.types",
    "period_for": "digest.window",
    "next_send": "digest.window",
    "digest_window": "digest.window",
    "Period": "digest.window",
    "Window": "digest.window",
    "Renderer": "digest.render",
    "DigestError": "digest.errors",
    "TemplateError": "digest.errors",
    "UnknownTimeZoneError": "digest.errors",
    "SubscriberError": "digest.subscribers",
    "SubscriberInfo": "digest.subscribers",
    "SubscriberSpec": "digest.subscribers",
    "ArchiveError": "digest.archive",
}

__all__ = [
    "ArchiveError",
    "Digest",
    "DigestArticle",
    "DigestError",
    "DigestItem",
    "Limits",
    "Period",
    "RegionResolver",
    "Renderer",
    "Section",
    "StoryPool",
    "SubscriberError",
    "SubscriberInfo",
    "SubscriberPrefs",
    "SubscriberSpec",
    "TemplateError",
    "UnknownTimeZoneError",
    "Window",
    "compose_digest",
    "digest_window",
    "next_send",
    "period_for",
    "prepare",
    "select",
]

if TYPE_CHECKING:
    from digest.archive import ArchiveError
    from digest.compose import RegionResolver, StoryPool, prepare, select
    from digest.compose import compose as compose_digest
    from digest.errors import DigestError, TemplateError, UnknownTimeZoneError
    from digest.render import Renderer
    from digest.subscribers import SubscriberError, SubscriberInfo, SubscriberSpec
    from digest.types import Digest, DigestArticle, DigestItem, Limits, Section, SubscriberPrefs
    from digest.window import Period, Window, next_send, period_for
    from digest.window import window as digest_window


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'digest' has no attribute {name!r}")
    return getattr(importlib.import_module(module), _ALIASES.get(name, name))


def __dir__() -> list[str]:
    return __all__
