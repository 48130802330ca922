"""Text normalisation shared by the services: accent folding and word tokens."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "words"]

_WORD = re.compile(r"\w+", re.UNICODE)
# Typographic apostrophes and dashes are folded before tokenising so that "Russia’s" and
# "Russia's" give the same tokens.
_TRANSLATE = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "–": "-", "—": "-"})


def fold(text: str) -> str:
    """Lower-case, accent-free text: "Zelenskyy’s Kyïv" → "zelenskyy's kyiv"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_TRANSLATE))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold()


def words(text: str) -> list[str]:
    """The folded word tokens of ``text``; punctuation and apostrophes split words."""
    return _WORD.findall(fold(text))
