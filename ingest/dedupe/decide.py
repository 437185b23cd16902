"""Is this article new, another source of a known one, a duplicate, or part of a story?

Pure decisions over values: the store finds the candidates (same canonical URL, same
fingerprint, a shared LSH band) and applies the decision; :func:`classify` verifies each
candidate itself, so a loose lookup cannot cause a wrong match.

Order of arrival. Every relation used here (same URL, same fingerprint, estimated
Jaccard >= threshold) is symmetric, and a candidate linked to several stories asks for
them to be merged (``DedupeDecision.merge_story_ids``). Stories are therefore the
connected components of the "linked" graph, whatever the order articles arrive in,
provided the store indexes the fingerprint and bands of every version it keeps (a second
source of the same URL included) and applies the merges.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ingest.dedupe.fingerprint import fingerprint_lines
from ingest.dedupe.minhash import DEFAULT_NUM_PERM, estimated_jaccard, signature_of_lines
from ingest.dedupe.tokens import content_lines

DEFAULT_THRESHOLD = 0.8

#: Default rule for :attr:`KnownArticle.is_full`: a text at least this long (in
#: characters) is an article, not a feed's teaser. See :func:`is_full_text`.
FULL_TEXT_MIN_CHARS = 1000


class DedupeKind(enum.StrEnum):
    """What a candidate article is, relative to what is stored (strongest first)."""

    #: The same canonical URL as a stored article: another source of that article.
    SAME_URL = "same_url"
    #: A different URL, the same fingerprint: a copy of a stored article's text.
    EXACT_DUPLICATE = "exact_duplicate"
    #: A different text with estimated Jaccard >= threshold: joins that article's story.
    NEAR_DUPLICATE = "near_duplicate"
    #: Linked to nothing stored: a new article and a new story.
    NEW_STORY = "new_story"


_STRENGTH = {kind: rank for rank, kind in enumerate(DedupeKind)}


@dataclass(frozen=True, slots=True)
class DedupeCandidate:
    """The article being decided, as ``normalize`` and ``dedupe`` computed it."""

    #: Canonical URL (``canonical_url``), or None when the entry had no usable link.
    url: str | None
    #: ``text_fingerprint`` of the article text; ``""`` matches nothing.
    fingerprint: str
    #: ``minhash_signature`` of the article text; ``()`` matches nothing.
    signature: tuple[int, ...]

    @classmethod
    def from_text(
        cls, url: str | None, text: str, num_perm: int = DEFAULT_NUM_PERM
    ) -> DedupeCandidate:
        """Fingerprint and sign ``text`` (tokenized once) for the article at ``url``."""
        lines = content_lines(text)
        return cls(url, fingerprint_lines(lines), signature_of_lines(lines, num_perm))


@dataclass(frozen=True, slots=True)
class KnownArticle:
    """A stored article (or a stored version of one) that the lookup returned."""

    id: int
    story_id: int
    url: str | None
    fingerprint: str
    signature: tuple[int, ...]
    #: UTC; "earliest" in :func:`choose_representative`.
    published: datetime
    #: Whether this is the article's full text rather than a summary.
    is_full: bool = True


@dataclass(frozen=True, slots=True)
class DedupeDecision:
    """The outcome of :func:`classify`.

    For NEW_STORY, ``story_id``, ``article_id`` and ``similarity`` are None. Otherwise
    ``story_id`` is the story the candidate joins (the smallest id among the linked
    stories), ``article_id`` the strongest match (for SAME_URL, the article the
    candidate is another source of), ``similarity`` the estimated Jaccard with it, and
    ``merge_story_ids`` the other linked stories, which the store folds into
    ``story_id`` (usually empty).
    """

    kind: DedupeKind
    story_id: int | None = None
    article_id: int | None = None
    similarity: float | None = None
    merge_story_ids: tuple[int, ...] = ()


def _similarity(candidate: DedupeCandidate, known: KnownArticle) -> float:
    if len(candidate.signature) != len(known.signature):
        # Made with other settings (or empty): not comparable, so not similar.
        return 0.0
    return estimated_jaccard(candidate.signature, known.signature)


def _relation(
    candidate: DedupeCandidate, known: KnownArticle, similarity: float, threshold: float
) -> DedupeKind | None:
    if candidate.url is not None and candidate.url == known.url:
        return DedupeKind.SAME_URL
    if candidate.fingerprint and candidate.fingerprint == known.fingerprint:
        return DedupeKind.EXACT_DUPLICATE
    if similarity >= threshold:
        return DedupeKind.NEAR_DUPLICATE
    return None


def classify(
    candidate: DedupeCandidate,
    matches: Sequence[KnownArticle],
    threshold: float = DEFAULT_THRESHOLD,
) -> DedupeDecision:
    """Decide what ``candidate`` is, given the stored articles a lookup returned.

    Same URL beats same fingerprint beats near-duplicate (estimated Jaccard of the
    MinHash signatures >= ``threshold``); matches that are none of these are ignored.
    Among matches of the strongest kind the most similar wins, then the earliest
    published, then the smallest id, so the order of ``matches`` never matters.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    linked: list[tuple[int, float, datetime, int, KnownArticle, DedupeKind]] = []
    for known in matches:
        similarity = _similarity(candidate, known)
        kind = _relation(candidate, known, similarity, threshold)
        if kind is not None:
            # Sort key: strongest kind, most similar, earliest, smallest id.
            linked.append((_STRENGTH[kind], -similarity, known.published, known.id, known, kind))
    if not linked:
        return DedupeDecision(DedupeKind.NEW_STORY)
    _, negative_similarity, _, _, best, kind = min(linked, key=lambda row: row[:4])
    stories = sorted({row[4].story_id for row in linked})
    return DedupeDecision(
        kind=kind,
        story_id=stories[0],
        article_id=best.id,
        similarity=-negative_similarity,
        merge_story_ids=tuple(stories[1:]),
    )


def choose_representative(members: Sequence[KnownArticle]) -> int:
    """The id of a story's representative: the earliest full version.

    Full versions (``is_full``) come before summaries; then the earliest ``published``;
    then the smallest id, so ties are decided the same way every time.
    """
    if not members:
        raise ValueError("a story has at least one article")
    return min(members, key=lambda m: (not m.is_full, m.published, m.id)).id


def is_full_text(text: str, min_chars: int = FULL_TEXT_MIN_CHARS) -> bool:
    """The default rule for :attr:`KnownArticle.is_full`: the text is long enough."""
    return len(text.strip()) >= min_chars


class EntryChange(enum.StrEnum):
    """What a fetched entry is, relative to the stored entry with the same feed and key."""

    NEW = "new"
    UNCHANGED = "unchanged"
    #: Same key, different content hash: stored in place, ``updated_at`` moves; it is
    #: not a new article and not a duplicate.
    UPDATED = "updated"


def entry_change(old_hash: str | None, new_hash: str) -> EntryChange:
    """Compare the stored content hash (None: no stored entry with this key) with the new."""
    if old_hash is None:
        return EntryChange.NEW
    return EntryChange.UNCHANGED if old_hash == new_hash else EntryChange.UPDATED


def is_update(old_hash: str | None, new_hash: str) -> bool:
    """Whether an entry already stored under the same key was edited."""
    return entry_change(old_hash, new_hash) is EntryChange.UPDATED
