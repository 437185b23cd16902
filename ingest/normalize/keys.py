"""The identity of an entry within its feed, and the per-feed policy that chooses it.

An entry is the same entry on the next fetch when its key is the same; a changed
``content_hash`` under the same key is an update. Most feeds give stable, unique guids.
Some repeat one guid for different entries, or mint new guids on every fetch; for those
the feed falls back to the link, and when links are not unique either, to link + date.
The rule follows FreshRSS (``app/Models/Feed.php``, ``loadGuids``): a feed whose
document has more than 5% empty or duplicated guids degrades.
"""

from __future__ import annotations

import enum
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from ingest.normalize.dates import UNSTABLE_DATE_FLAGS

#: Keys longer than this are replaced by ``<prefix>#<sha256 hex>`` so they fit an index.
MAX_KEY_CHARS = 512

#: A feed degrades to the next policy when more than this share of its entries have an
#: unusable identifier (FreshRSS's threshold).
BAD_GUID_SHARE = 0.05


class KeyPolicy(enum.StrEnum):
    """Which field identifies a feed's entries; stored per feed and shown in `feeds list`."""

    GUID = "guid"
    LINK = "link"
    LINK_DATE = "link+date"


def entry_key(guid: str | None, link: str | None, content_hash: str) -> str:
    """The key of an entry: its guid, else its (canonical) link, else its content hash.

    Prefixes keep the kinds apart (a guid that happens to equal a link is still a
    guid): ``g:<guid>``, ``l:<link>``, ``h:<hash>``. Blank guids and links count as
    missing. A key over :data:`MAX_KEY_CHARS` becomes ``g#<sha256>``/``l#<sha256>``.
    """
    if guid and guid.strip():
        return _bounded("g", guid.strip())
    if link and link.strip():
        return _bounded("l", link.strip())
    return _bounded("h", content_hash)


def key_for_policy(
    policy: KeyPolicy,
    *,
    guid: str | None,
    link: str | None,
    published: datetime | None,
    content_hash: str,
) -> str:
    """The entry's key under the feed's ``policy``.

    ``published`` must be the feed's own date (None when the feed gave none), not a
    first-seen fallback, or the key would change between fetches. LINK_DATE keys are
    ``d:<link>|<ISO date>``; an entry missing what its policy needs falls back as
    :func:`entry_key` does, without the guid for the LINK and LINK_DATE policies.
    """
    if policy is KeyPolicy.GUID:
        return entry_key(guid, link, content_hash)
    if policy is KeyPolicy.LINK_DATE and link and link.strip() and published is not None:
        return _bounded("d", f"{link.strip()}|{published.isoformat()}")
    return entry_key(None, link, content_hash)


def key_with_date_flags(
    policy: KeyPolicy,
    *,
    guid: str | None,
    link: str | None,
    published: datetime | None,
    date_flags: Iterable[str],
    content_hash: str,
) -> str:
    """:func:`key_for_policy` of an entry whose date the normalizer may have supplied: a date
    flagged unstable (a first-seen time, a clamped future date) changes from one fetch to
    the next, so it is left out of the key."""
    stable = not UNSTABLE_DATE_FLAGS.intersection(date_flags)
    return key_for_policy(
        policy,
        guid=guid,
        link=link,
        published=published if stable else None,
        content_hash=content_hash,
    )


def _bounded(prefix: str, value: str) -> str:
    key = f"{prefix}:{value}"
    if len(key) <= MAX_KEY_CHARS:
        return key
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}#{digest}"


def choose_key_policy(
    observed: Sequence[tuple[str | None, str | None]],
    previous: Sequence[tuple[str | None, str | None]] = (),
) -> KeyPolicy:
    """Decide how a feed's entries are identified, from the ``(guid, link)`` pairs of
    one fetched document (``observed``) and optionally of the fetch before (``previous``).

    A guid is bad when it is empty, when it occurs more than once in the document (one
    guid for several entries), or when its link was seen in ``previous`` under another
    guid (guids minted anew on every fetch). More than :data:`BAD_GUID_SHARE` bad guids
    and the feed uses links; a link is bad when it is empty or occurs more than once,
    and more than that share of bad links means link + date. An empty document keeps
    the default, GUID.
    """
    if not observed:
        return KeyPolicy.GUID
    entries = [(_blank_to_none(guid), _blank_to_none(link)) for guid, link in observed]
    limit = BAD_GUID_SHARE * len(entries)

    guid_counts = Counter(guid for guid, _ in entries)
    old_guid_of_link: dict[str, str] = {}
    for old_guid, old_link in previous:
        guid, link = _blank_to_none(old_guid), _blank_to_none(old_link)
        if guid is not None and link is not None:
            old_guid_of_link[link] = guid
    bad_guids = sum(
        1
        for guid, link in entries
        if guid is None
        or guid_counts[guid] > 1
        or (link is not None and old_guid_of_link.get(link, guid) != guid)
    )
    if bad_guids <= limit:
        return KeyPolicy.GUID

    link_counts = Counter(link for _, link in entries)
    bad_links = sum(1 for _, link in entries if link is None or link_counts[link] > 1)
    return KeyPolicy.LINK if bad_links <= limit else KeyPolicy.LINK_DATE


def _blank_to_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None
