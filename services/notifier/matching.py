"""Matching subscriptions' rules against articles: pure functions, no Kafka.

Text is folded (case and accents ignored), cut into whole words, and the common
spellings of Ukrainian and Russian place and person names are mapped to one form, so a
rule for "Kyiv" fires on "Kiev" and a rule for "Kiev" fires on "Kyiv".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wirewatch.text import words

__all__ = ["NAME_VARIANTS", "MatchResult", "Phrase", "canonical_tokens", "find_phrases"]

# canonical form → other spellings (transliterations from Ukrainian and from Russian).
# Places and surnames only: given names are matched as written, because the Russian and
# Ukrainian forms name different people (a rule for "Vladimir" must not fire on every
# "Volodymyr Zelenskyy"); a rule that wants both lists both.
NAME_VARIANTS: dict[str, tuple[str, ...]] = {
    "kyiv": ("kiev", "kyyiv", "kiyv"),
    "zelensky": ("zelenskyy", "zelenskiy", "zelenskii", "zelenskyi", "zelenski"),
    "kharkiv": ("kharkov", "charkiw"),
    "zaporizhzhia": ("zaporizhia", "zaporozhye", "zaporizhzhya", "zaporozhe", "zaporozhia",
                     "zaporizhzhe"),
    "odesa": ("odessa",),
    "mykolaiv": ("nikolaev", "nikolayev", "mykolayiv"),
    "lviv": ("lvov", "lwow", "lvow"),
    "dnipro": ("dnepr", "dnipropetrovsk", "dnepropetrovsk"),
    "luhansk": ("lugansk",),
    "chernihiv": ("chernigov",),
    "chornobyl": ("chernobyl",),
    "rivne": ("rovno",),
    "vinnytsia": ("vinnitsa", "vinnytsya"),
    "zhytomyr": ("zhitomir",),
    "sloviansk": ("slovyansk", "slavyansk"),
    "sievierodonetsk": ("severodonetsk", "sjevjerodonetsk"),
    "avdiivka": ("avdeyevka", "avdeevka"),
    "kupiansk": ("kupyansk",),
    "kramatorsk": ("kramatorskiy",),
    "bakhmut": ("artemovsk", "artemivsk"),
    "huliaipole": ("hulyaipole", "gulyaipole", "hulyaypole"),
    "pokrovsk": ("pokrovs'k",),
    "donbas": ("donbass",),
    "kherson": ("kherson",),
    "sumy": ("sumi",),
    "budanov": ("budanow",),
}
_CANONICAL = {variant: canon for canon, variants in NAME_VARIANTS.items() for variant in variants}


def canonical_tokens(text: str) -> list[str]:
    """Folded whole words with name spellings mapped to their canonical form."""
    return [_CANONICAL.get(token, token) for token in words(text)]


@dataclass(frozen=True)
class Phrase:
    """A keyword or quoted phrase as the user wrote it, and its canonical words."""

    text: str
    tokens: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Phrase:
        tokens = tuple(canonical_tokens(text))
        if not tokens:
            raise ValueError(f"keyword {text!r} has no words")
        return cls(text, tokens)


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
