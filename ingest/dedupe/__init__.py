"""De-duplication: fingerprints, MinHash/LSH, and the new / same / duplicate / story decision.

Pure functions over values; the store runs the lookups (URL, fingerprint, LSH bands in
SQL) and applies :func:`classify`'s decision.
"""

from ingest.dedupe.decide import (
    DEFAULT_THRESHOLD,
    FULL_TEXT_MIN_CHARS,
    DedupeCandidate,
    DedupeDecision,
    DedupeKind,
    EntryChange,
    KnownArticle,
    choose_representative,
    classify,
    entry_change,
    is_full_text,
    is_update,
)
from ingest.dedupe.fingerprint import text_fingerprint
from ingest.dedupe.minhash import (
    DEFAULT_BANDS,
    DEFAULT_NUM_PERM,
    candidate_probability,
    estimated_jaccard,
    lsh_bands,
    minhash_signature,
    signature_from_bytes,
    signature_to_bytes,
)

__all__ = [
    "DEFAULT_BANDS",
    "DEFAULT_NUM_PERM",
    "DEFAULT_THRESHOLD",
    "FULL_TEXT_MIN_CHARS",
    "DedupeCandidate",
    "DedupeDecision",
    "DedupeKind",
    "EntryChange",
    "KnownArticle",
    "candidate_probability",
    "choose_representative",
    "classify",
    "entry_change",
    "estimated_jaccard",
    "is_full_text",
    "is_update",
    "lsh_bands",
    "minhash_signature",
    "signature_from_bytes",
    "signature_to_bytes",
    "text_fingerprint",
]
