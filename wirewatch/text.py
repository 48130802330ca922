"""Text normalisation shared by the services: accent folding and word tokens."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "words"]

_WORD = re.compile(r"\w+", re.UNICODE)
# Typographic apostrophes and dashes are folded before tokenising so that "Russia’s" and
# "Russia's" give the same tokens.
_TYPOGRAPHIC = (("’", "'"), ("‘", "'"), ("ʼ", "'"), ("–", "-"), ("—", "-"))


def fold(text: str) -> str:
    """Lower-case, accent-free text: "Zelenskyy’s Kyïv" → "zelenskyy's kyiv"."""
    if text.isascii():
        return text.lower()  # nothing to decompose or replace
    # Whole-string replacements of the few distinct characters present run in C; testing
    # every character of a long text in Python took most of the time.
    for char, plain in _TYPOGRAPHIC:
        if char in text:
            text = text.replace(char, plain)
    decomposed = unicodedata.normalize("NFKD", text)
    for mark in {c for c in set(decomposed) if unicodedata.combining(c)}:
        decomposed = decomposed.replace(mark, "")
    return decomposed.casefold()


def words(text: str) -> list[str]:
    """The folded word tokens of ``text``; punctuation and apostrophes split words."""
    return _WORD.findall(fold(text))
