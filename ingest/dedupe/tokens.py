"""Text -> comparable lines and tokens, the same for the fingerprint and for MinHash.

Language-neutral: Unicode NFKC and case folding, tokens are runs of letters, digits and
combining marks (so Devanagari or Arabic words stay whole), and everything else
(punctuation, symbols, whitespace) only separates tokens. Scripts written without
spaces between words (Han, kana, Thai, Lao, Khmer, Myanmar, Tibetan) are split into
single characters, which is what shingles are then built from.

Boilerplate lines (share links, "Originally published by ...", "Read more", "Follow
us", copyright lines) and very short lines are left out: they are what one outlet's
copy of a story adds to another's.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata

#: A line with less "weight" than this is dropped (datelines, photo credits, buttons).
#: Weight: one per letter or digit, two per character of a script without spaces (a
#: Chinese character carries about as much as two Latin letters).
MIN_LINE_WEIGHT = 20

#: Boilerplate patterns are only tried on lines of at most this many tokens, so a real
#: paragraph that happens to start with "Share prices ..." is never dropped.
MAX_BOILERPLATE_TOKENS = 16

#: Case-folded, NFKC-normalized patterns, matched with ``re.search`` on a short line.
#: English plus common Spanish, French and Portuguese equivalents.
BOILERPLATE_PATTERNS: tuple[str, ...] = (
    # share / social buttons
    r"^(share|tweet|pin it|email|e-mail|print|whatsapp|facebook|twitter|linkedin|telegram"
    r"|reddit|compartir|compartilhar|partilhar|partager|imprimir|imprimer)\b",
    r"^(share|compartir|partager|compartilhe|comparte) (this|on|via|article|story|esta|este"
    r"|cet|cette|sur|en|no|na)\b",
    # republication credits
    r"\b(originally|first) (published|appeared|posted)\b",
    r"\b(this|the) (article|story|post|piece) (was|is) (republished|reproduced|syndicated)\b",
    r"\b(republished|reprinted|reproduced) (from|with permission|under)\b",
    r"\b(publicado originalmente|originalmente publicado|publicada originalmente"
    r"|publié initialement|publié à l'origine|publié originellement|initialement publié)\b",
    # read more / related
    r"^(read|see|view|watch|listen to) (more|also|the full|full|the original|next)\b",
    r"^(continue|keep) reading\b",
    r"^(also read|related|more from|recommended|trending|most read|you may also like)\b",
    r"^(leer|lee|lea|ver|seguir leyendo|sigue leyendo)( (más|mas|también|tambien|además))?\b",
    r"^(lire|voir) (la suite|aussi|plus|également)\b",
    r"^(en savoir plus|à lire aussi|a lire aussi|lire aussi)\b",
    r"^(leia|veja|saiba) (mais|também|tambem)\b",
    r"^(click|tap) here\b",
    # follow / subscribe
    r"^follow (us|@|[^ ]+ on)\b",
    r"^(síguenos|siguenos|suivez-nous|suivez nous|siga-nos|siga nos|sigue a|segue-nos)\b",
    r"^(subscribe|sign up|join our|get our|suscríbete|suscribete|abonnez-vous|inscreva-se"
    r"|assine|inscrivez-vous)\b",
    # copyright
    r"^(©|\(c\)|copyright\b|derechos reservados|droits réservés)",
    r"\b(all rights reserved|todos los derechos reservados|tous droits réservés"
    r"|todos os direitos reservados)\b",
    # ads, tags
    r"^(advertisement|advertising|sponsored|publicidad|publicité|publicidade|anuncio)\b",
    r"^(tags?|etiquetas|mots-clés|palavras-chave)\s*:",
)

_BOILERPLATE = re.compile("|".join(f"(?:{p})" for p in BOILERPLATE_PATTERNS))
# The same patterns in two parts: those anchored with "^" can only match at the start, so
# they are tried there alone (``re.match``) and only the others are searched along the
# line; ``_BOILERPLATE.search`` tried every alternative at every position.
# tests/test_dedupe_fingerprint.py holds the split to the one expression.
_BOILERPLATE_AT_START = re.compile(
    "|".join(f"(?:{p})" for p in BOILERPLATE_PATTERNS if p.startswith("^"))
)
_BOILERPLATE_ANYWHERE = re.compile(
    "|".join(f"(?:{p})" for p in BOILERPLATE_PATTERNS if not p.startswith("^"))
)

# Scripts written without spaces between words.
_NO_SPACE_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x0F00, 0x0FFF),  # Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3134F),  # CJK extensions B-G
)
_NO_SPACE_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _NO_SPACE_RANGES)
_NO_SPACE_CHAR = re.compile(f"[{_NO_SPACE_CLASS}]")
_NO_SPACE_SPLIT = re.compile(f"([{_NO_SPACE_CLASS}])")
# One range from the first of those scripts up: a quick "none of them here" on a long text
# (a class with ranges beyond U+FFFF is slow to test per character).
_AT_OR_ABOVE_NO_SPACE = re.compile(f"[{chr(_NO_SPACE_RANGES[0][0])}-\U0010ffff]")


@functools.cache
def _token_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Runs of word characters, where combining marks count as word characters.

    Python's ``\\w`` leaves out marks (Devanagari vowel signs, Arabic harakat), which
    would cut Hindi words apart; the mark ranges are collected once from ``unicodedata``.

    Two patterns that find the same tokens: one with the marks of the Basic Multilingual
    Plane only, one with every mark. ``re`` compiles a class of BMP characters to a
    bitmap, but a class with any character beyond U+FFFF to a list of ranges it walks for
    every character: three times slower on a whole article. Lines without such
    characters (nearly all) use the first.
    """
    # Every mark is below U+20000 except the variation selectors supplement; scanning
    # only those planes takes ~30 ms once instead of ~0.4 s for all of Unicode.
    candidates = itertools.chain(range(0x20000), range(0xE0100, 0xE01F0))
    category = unicodedata.category
    ranges: list[tuple[int, int]] = []
    for code in candidates:
        if category(chr(code))[0] == "M":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))

    def pattern(spans: list[tuple[int, int]]) -> re.Pattern[str]:
        marks = "".join(
            re.escape(chr(lo)) if lo == hi else f"{re.escape(chr(lo))}-{re.escape(chr(hi))}"
            for lo, hi in spans
        )
        return re.compile(f"[\\w{marks}]+")

    bmp = [(lo, min(hi, 0xFFFF)) for lo, hi in ranges if lo <= 0xFFFF]
    return pattern(bmp), pattern(ranges)


# Punctuation common in news text that is not a word character: replaced by a space
# before the fast paths below, so a line with curly quotes or dashes still takes them.
_COMMON_SEPARATORS = ("\u2019", "\u2018", "\u201c", "\u201d", "\u2014", "\u2013", "\xab", "\xbb")


@functools.cache
def _latin1_separators() -> bytes:
    """A ``bytes.translate`` table: Latin-1 characters that are not ``\\w`` -> space."""
    word = re.compile(r"\w")
    return bytes(c if word.match(chr(c)) and c != ord("_") else ord(" ") for c in range(256))


def tokenize(line: str) -> list[str]:
    """Tokens of one already-folded line: words, with no-space scripts split per character.

    The tokens are the runs of word characters (``\\w`` and combining marks). Lines in
    Latin-1 (English, and most Western European text once the quotes and dashes are
    spaces) are split with ``bytes.translate`` and ``split``, which find the same tokens
    as the regular expression in a third of the time.
    """
    for c in _COMMON_SEPARATORS:
        if c in line:
            line = line.replace(c, " ")
    try:
        data = line.encode("latin-1")
    except UnicodeEncodeError:
        pass
    else:
        # One decode of the whole line, not one per token: after the translation only word
        # characters and spaces are left, so str.split finds what bytes.split would.
        return data.translate(_latin1_separators()).decode("latin-1").split()
    bmp, full = _token_patterns()
    pattern = bmp if max(line, default="") <= "\uffff" else full
    tokens: list[str] = pattern.findall(line.replace("_", " "))
    if not has_no_space_char(line) or not _NO_SPACE_CHAR.search(line):
        return tokens
    out: list[str] = []
    for token in tokens:
        # Split ideographs/kana/Thai into characters; keep runs of other scripts (a
        # Latin name inside Chinese text) whole.
        out.extend(part for part in _NO_SPACE_SPLIT.split(token) if part)
    return out


def fold(text: str) -> str:
    """NFKC, then Unicode case folding (``ß`` -> ``ss``, full-width -> ASCII)."""
    return unicodedata.normalize("NFKC", text).casefold()


def is_boilerplate(folded_line: str, tokens: list[str]) -> bool:
    """Whether a (folded) line is an outlet's wrapper rather than the story."""
    return len(tokens) <= MAX_BOILERPLATE_TOKENS and (
        _BOILERPLATE_AT_START.match(folded_line) is not None
        or _BOILERPLATE_ANYWHERE.search(folded_line) is not None
    )


def _weight(line: str, tokens: list[str]) -> int:
    if not has_no_space_char(line) or not _NO_SPACE_CHAR.search(line):
        return sum(map(len, tokens))
    return sum(2 if _NO_SPACE_CHAR.match(token) else len(token) for token in tokens)


def content_lines(text: str) -> list[list[str]]:
    """The token lists of the lines that carry the story.

    Boilerplate and very short lines are dropped. When that leaves nothing (a one-line
    summary, a headline), short lines are kept; when even that leaves nothing, every
    line with a token is kept, so a text made only of a "Read more" still has an
    identity.
    """
    folded = [fold(line).strip() for line in text.splitlines()]
    lines = [(line, tokenize(line)) for line in folded if line]
    lines = [(line, tokens) for line, tokens in lines if tokens]
    story = [(line, tokens) for line, tokens in lines if not is_boilerplate(line, tokens)]
    long_enough = [tokens for line, tokens in story if _weight(line, tokens) >= MIN_LINE_WEIGHT]
    if long_enough:
        return long_enough
    if story:
        return [tokens for _, tokens in story]
    return [tokens for _, tokens in lines]


def has_no_space_char(text: str) -> bool:
    """Whether ``text`` may contain a character of a script written without spaces.

    False is certain; True only means a closer look is needed.
    """
    return not text.isascii() and _AT_OR_ABOVE_NO_SPACE.search(text) is not None


def is_no_space_token(token: str) -> bool:
    """Whether ``token`` is one character of a script written without spaces."""
    return len(token) == 1 and bool(_NO_SPACE_CHAR.match(token))
