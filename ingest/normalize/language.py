"""An entry's language: the feed's declaration when it is a plausible tag, else detected.

Detection is py3langid (a maintained fork of langid.py: 139 languages, offline, a few
hundred microseconds per text). Its model is loaded on first use and kept (from a
decompressed copy: `langid_model`); importing this module stays cheap.
"""

from __future__ import annotations

import functools
import re

from py3langid.langid import LanguageIdentifier

from ingest.normalize.langid_model import load_identifier

#: Detected languages below this probability are reported as unknown (None). py3langid's
#: probabilities are calibrated by text length, so a two-word title rarely reaches it.
MIN_CONFIDENCE = 0.5

#: Only the start of a long text is looked at: it is enough, and time grows with length
#: (measured here: about 0.5 ms for 600 characters, 2.6 ms for 2,000).
MAX_DETECT_CHARS = 600

# Labels py3langid can return that we report under the macrolanguage a feed would declare
# (ISO 639-3 varieties -> ISO 639-1): the model tells Wu and Cantonese from Mandarin,
# Egyptian and Moroccan Arabic from Standard Arabic, and short Chinese headlines often
# come out as "wuu". Their probabilities are added up before the confidence test.
_MACRO = {"wuu": "zh", "yue": "zh", "arz": "ar", "ary": "ar", "uzs": "uz", "gug": "gn"}
# "No linguistic content": numbers, symbols.
_NOT_A_LANGUAGE = frozenset({"zxx"})

# BCP 47 language tag, loosely: a 2-3 letter language subtag, then optional script
# (4 letters), region (2 letters or 3 digits) and variants/extensions. Feeds also write
# "en_US"; that is accepted and rewritten.
_TAG = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})*", re.IGNORECASE)
# "undetermined", "multiple", "no linguistic content", "uncoded": declared but useless.
_NON_LANGUAGES = frozenset({"und", "mul", "zxx", "mis"})


@functools.lru_cache(maxsize=1024)
def normalize_language_tag(tag: str | None) -> str | None:
    """Return ``tag`` in canonical case (``pt-BR``, ``zh-Hant-TW``) or None if implausible.

    >>> normalize_language_tag("en_us")
    'en-US'
    >>> normalize_language_tag("english") is None
    True

    Memoized: every entry of a feed declares the same few tags (a pure function of a
    short string; the cache holds at most 1,024 of them).
    """
    if not tag:
        return None
    text = tag.strip().replace("_", "-")
    if len(text) > 35 or not _TAG.fullmatch(text):
        return None
    subtags = text.split("-")
    language = subtags[0].lower()
    if language in _NON_LANGUAGES:
        return None
    out = [language]
    for sub in subtags[1:]:
        if len(sub) == 4 and sub.isalpha():
            out.append(sub.title())  # script
        elif (len(sub) == 2 and sub.isalpha()) or (len(sub) == 3 and sub.isdigit()):
            out.append(sub.upper())  # region
        else:
            out.append(sub.lower())
    return "-".join(out)


@functools.cache
def _identifier() -> LanguageIdentifier:
    # Loaded once per process; read-only afterwards, so sharing it is safe.
    return load_identifier(norm_probs=True)


def detect_language(text: str, declared: str | None = None) -> str | None:
    """Return the language of ``text`` as a BCP 47 tag, or None when unknown.

    A plausible ``declared`` tag (the entry's or the feed's ``language``) wins and is
    returned in canonical case. Otherwise py3langid decides, and a result below
    :data:`MIN_CONFIDENCE` (typical for a few words) is None.
    """
    tag = normalize_language_tag(declared)
    if tag is not None:
        return tag
    sample = text[:MAX_DETECT_CHARS].strip()
    if not sample:
        return None
    scores: dict[str, float] = {}
    for label, probability in _identifier().rank(sample):
        key = _MACRO.get(label, label)
        scores[key] = scores.get(key, 0.0) + probability
    best = max(scores, key=scores.__getitem__)
    if best in _NOT_A_LANGUAGE or scores[best] < MIN_CONFIDENCE:
        return None
    return best
