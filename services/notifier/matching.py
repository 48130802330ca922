"""Matching subscriptions' rules against articles: pure functions, no Kafka.

Text is folded (case and accents ignored), cut into whole words, and the spellings of
Ukrainian place names and public figures' surnames are mapped to one form
(``services.notifier.names``), so a rule for "Kyiv" fires on "Kiev", a rule for
"Artyomovsk" on "Bakhmut" and a rule for "Lisichansk" on "Lysychansk".
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.notifier.names import canonical_name
from services.notifier.names import given_name_variants as given_names
from wirewatch.text import words

__all__ = ["MatchResult", "Phrase", "canonical_tokens", "find_phrases"]

# An apostrophe inside a word is a soft sign or a separation mark in a romanised name
# (Pokrovs'k, Podil's'k, Mar'inka) unless it starts an English ending (Russia's, don't).
# (The apostrophe comes first in the pattern so that the search skips to apostrophes.)
_INNER_APOSTROPHE = re.compile(
    r"['ʹʼ’`](?<=\w['ʹʼ’`])(?=\w)(?!(?:s|t|d|m|ll|re|ve)(?![\w'ʹʼ’`]))")
_CACHE: dict[str, str] = {}
_CACHE_LIMIT = 500_000


def canonical_tokens(text: str) -> list[str]:
    """Folded whole words with name spellings mapped to their canonical form."""
    known = _CACHE.get
    return [known(token) or _learn(token) for token in words(_INNER_APOSTROPHE.sub("", text))]


def _learn(token: str) -> str:
    # Words repeat (Zipf): each is looked up in the gazetteer once, then remembered.
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    canonical = _CACHE[token] = canonical_name(token) or token
    return canonical


@dataclass(frozen=True)
class Phrase:
    """A keyword or quoted phrase as the user wrote it, and its canonical words; with
    given-name variants, every form it may take (``alternatives``, itself first)."""

    text: str
    tokens: tuple[str, ...]
    alternatives: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if not self.alternatives:
            object.__setattr__(self, "alternatives", (self.tokens,))

    @classmethod
    def parse(cls, text: str, given_name_variants: bool = False) -> Phrase:
        tokens = tuple(canonical_tokens(text))
        if not tokens:
            raise ValueError(f"keyword {text!r} has no words")
        if not given_name_variants:
            return cls(text, tokens)
        forms = itertools.product(*(given_names(t) for t in tokens))
        return cls(text, tokens, tuple(forms))


@dataclass(frozen=True)
class MatchResult:
    """Whether a rule matched, and the reasons to show the user."""

    matched: bool
    reasons: tuple[str, ...] = ()


def find_phrases(tokens: list[str], phrases: Iterable[Phrase],
                 positions: dict[str, list[int]] | None = None) -> list[Phrase]:
    """The phrases that occur in ``tokens`` as whole consecutive words (``positions``:
    each token's positions in ``tokens``, when already known)."""
    phrases = list(phrases)
    if not phrases:
        return []
    if positions is None:
        positions = {}
        for i, token in enumerate(tokens):
            positions.setdefault(token, []).append(i)
    found = []
    for phrase in phrases:
        n = len(phrase.tokens)
        for start in positions.get(phrase.tokens[0], ()):
            if tuple(tokens[start : start + n]) == phrase.tokens:
                found.append(phrase)
                break
    return found
