"""Arabic spellings derived from the gazetteer's: clitics, the article, a demonym's forms.

Arabic writes conjunctions and prepositions joined to the next word ("والعراق" "and Iraq",
"بالعراق" "in Iraq", "للعراق" "for Iraq", where the article's alif drops after "ل"), and a
demonym (a nisba adjective ending in "ي") takes gender and number suffixes: "عراقي",
"عراقية", "عراقيون", "عراقيين", "عراقيات". The data tables give one spelling; these pure
functions derive the others for every country alike. The matcher still wants a word boundary
after the whole form, so "العراقة" (heritage) and "عراقيل" (obstacles) match nothing.

Hamza-carrying alifs ("أ", "إ", "آ") are written or left out at will in news text
("إيران" / "ايران"); :func:`fold` makes them one letter on both the pattern and the text
side, keeping the length so that offsets stay valid.
"""

from __future__ import annotations

ARTICLE = "ال"
# Joined conjunctions and prepositions: "and", "so", "in/with", "for/to", "like", and the
# pairs that news text uses.
PROCLITICS = ("و", "ف", "ب", "ل", "ك", "وب", "ول", "فب", "فل", "وك")
# After a nisba's final "ي": masculine singular, feminine, masculine plural (nominative,
# oblique), dual (nominative), feminine plural.
NISBA_SUFFIXES = ("", "ة", "ون", "ين", "ان", "ات")
_ALIFS = ("أ", "إ", "آ")
_LAM = "ل"


def is_arabic(c: str) -> bool:
    """Whether a character is in the Arabic block."""
    return "\u0600" <= c <= "\u06ff"


def fold(text: str) -> str:
    """Hamza-carrying alifs as a bare alif, same length: "إيران" -> "ايران"."""
    for alif in _ALIFS:
        if alif in text:
            text = text.replace(alif, "ا")
    return text


def with_proclitics(word: str) -> list[str]:
    """The clitic-prefixed spellings of ``word`` (not ``word`` itself).

    "ل" before the article drops its alif ("للعراق"), and one lam more when the word after
    the article starts with lam ("للبنانيين", not "لللبنانيين").
    """
    out = []
    for p in PROCLITICS:
        if p.endswith(_LAM) and word.startswith(ARTICLE):
            rest = word[len(ARTICLE) :]
            out.append(p + (rest if rest.startswith(_LAM) else _LAM + rest))
        else:
            out.append(p + word)
    return out


def nisba_forms(form: str) -> list[str]:
    """A demonym's spelling -> every gender and number, with and without the article.

    ``form`` may be any of them ("العراقيين", "عراقية"); a spelling that is not one word
    ending in a nisba comes back alone.
    """
    if " " in form or not form or not is_arabic(form[0]):
        return [form]
    base = form[len(ARTICLE) :] if form.startswith(ARTICLE) else form
    for suffix in NISBA_SUFFIXES[1:]:
        if base.endswith("ي" + suffix):
            base = base[: -len(suffix)]
            break
    if not base.endswith("ي") or len(base) < 3:
        return [form]
    out = [form]
    for suffix in NISBA_SUFFIXES:
        for word in (base + suffix, ARTICLE + base + suffix):
            if word not in out:
                out.append(word)
    return out
