"""Lexicon-based multi-label topic tagging: pure functions, no Kafka.

Each topic has weighted terms. An article's paragraphs are scored separately, because the
taxonomy asks for a topic that is "the main subject of at least one paragraph, not a
passing mention": the best paragraph counts fully, the others add a little. The strength
maps to a score in [0, 1]; topics at or above the threshold are given, with the terms and
the sentence that produced them as evidence.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.article_classified import TopicTag
from wirewatch.configfiles import read_yaml
from wirewatch.text import words

__all__ = ["CLASSIFIER_NAME", "Lexicon", "LexiconError", "Term", "classify", "load_lexicon"]

CLASSIFIER_NAME = "lexicon-v1"
DEFAULT_LEXICON = Path(__file__).with_name("lexicon.yaml")
_SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=[\"“A-ZА-Я0-9])")


class LexiconError(ValueError):
    """The lexicon file is unusable; the message says where."""


@dataclass(frozen=True)
class Term:
    """A word or phrase; when ``prefix`` its last word matches any ending."""

    text: str
    tokens: tuple[str, ...]
    prefix: bool
    weight: float

    def matches_at(self, tokens: list[str], i: int) -> bool:
        n = len(self.tokens)
        if i + n > len(tokens):
            return False
        for k in range(n - 1):
            if tokens[i + k] != self.tokens[k]:
                return False
        last = tokens[i + n - 1]
        return last.startswith(self.tokens[-1]) if self.prefix else last == self.tokens[-1]


@dataclass
class Lexicon:
    """Topics and their terms, indexed by first word for fast matching."""

    names: dict[str, str]
    terms: dict[str, list[Term]]
    _exact: dict[str, list[tuple[str, Term]]] = field(default_factory=dict, repr=False)
    _prefix: dict[str, list[tuple[str, Term]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        exact: dict[str, list[tuple[str, Term]]] = defaultdict(list)
        prefix: dict[str, list[tuple[str, Term]]] = defaultdict(list)
        for topic, terms in self.terms.items():
            for term in terms:
                first = term.tokens[0]
                if term.prefix and len(term.tokens) == 1:
                    prefix[first[:3]].append((topic, term))
                else:
                    exact[first].append((topic, term))
        self._exact = dict(exact)
        self._prefix = dict(prefix)

    def hits(self, tokens: list[str]) -> list[tuple[str, Term]]:
        """Every (topic, term) occurrence in a token list."""
        found = []
        for i, token in enumerate(tokens):
            for topic, term in self._exact.get(token, ()):
                if term.matches_at(tokens, i):
                    found.append((topic, term))
            for topic, term in self._prefix.get(token[:3], ()):
                if token.startswith(term.tokens[0]):
                    found.append((topic, term))
        return found


def _parse_term(raw: object, weight: float, where: str) -> Term:
    if not isinstance(raw, str | int) or not str(raw).strip():
        raise LexiconError(f"{where}: a term must be a non-empty string, got {raw!r}")
    text = str(raw).strip()
    prefix = text.endswith("*")
    tokens = tuple(words(text.rstrip("*")))
    if not tokens:
        raise LexiconError(f"{where}: term {text!r} has no words")
    return Term(text, tokens, prefix, weight)


def parse_lexicon(data: Any, where: str = "lexicon") -> Lexicon:
    """Build a lexicon from its YAML structure; LexiconError names the bad entry."""
    if not isinstance(data, dict) or not isinstance(data.get("topics"), dict):
        raise LexiconError(f"{where}: expected a mapping with a 'topics' mapping")
    names: dict[str, str] = {}
    terms: dict[str, list[Term]] = {}
    for topic, spec in data["topics"].items():
        here = f"{where}: topics.{topic}"
        if not isinstance(spec, dict) or not isinstance(spec.get("terms"), dict):
            raise LexiconError(f"{here}: expected 'name' and a 'terms' mapping of weight → list")
        names[topic] = str(spec.get("name", topic))
        terms[topic] = []
        for weight, items in spec["terms"].items():
            try:
                w = float(weight)
            except (TypeError, ValueError) as exc:
                raise LexiconError(f"{here}.terms: weight {weight!r} is not a number") from exc
            if not isinstance(items, list):
                raise LexiconError(f"{here}.terms.{weight}: expected a list of terms")
            terms[topic] += [_parse_term(t, w, f"{here}.terms.{weight}") for t in items]
    return Lexicon(names, terms)


def load_lexicon(path: Path = DEFAULT_LEXICON) -> Lexicon:
    """Read a lexicon YAML file."""
    data = read_yaml(path, LexiconError)
    return parse_lexicon(data, str(path))


@dataclass
class _TopicScore:
    paragraph_strengths: list[float] = field(default_factory=list)
    terms: dict[str, float] = field(default_factory=dict)
    best_paragraph: int = 0


def _paragraph_strength(hits: list[Term]) -> float:
    # Distinct terms count fully; repeats of a term add a little, so one word said five
    # times does not outweigh five different words of the topic.
    seen: dict[str, int] = defaultdict(int)
    strength = 0.0
    for term in hits:
        strength += term.weight if seen[term.text] == 0 else term.weight * 0.25
        seen[term.text] += 1
    return strength


def _best_sentence(paragraph: str, terms: dict[str, float], lexicon_terms: list[Term]) -> str:
    best, best_hits = "", 0
    wanted = [t for t in lexicon_terms if t.text in terms]
    for sentence in _SENTENCE.split(paragraph):
        tokens = words(sentence)
        count = sum(1 for i in range(len(tokens)) for t in wanted if t.matches_at(tokens, i))
        if count > best_hits:
            best, best_hits = sentence.strip(), count
    return best if len(best) <= 240 else best[:237].rstrip() + "…"


def classify(
    title: str,
    body: str,
    lexicon: Lexicon,
    *,
    threshold: float = 0.5,
    max_topics: int = 4,
    scale: float = 3.0,
) -> list[TopicTag]:
    """Topics of an article, best first, each with a score and its evidence."""
    paragraphs = [p for p in re.split(r"\n\s*\n|\n", body) if p.strip()]
    if title.strip():
        paragraphs.insert(0, title)
    scores: dict[str, _TopicScore] = defaultdict(_TopicScore)
    for index, paragraph in enumerate(paragraphs):
        per_topic: dict[str, list[Term]] = defaultdict(list)
        for topic, term in lexicon.hits(words(paragraph)):
            per_topic[topic].append(term)
        for topic, hits in per_topic.items():
            entry = scores[topic]
            strength = _paragraph_strength(hits)
            if not entry.paragraph_strengths or strength > max(entry.paragraph_strengths):
                entry.best_paragraph = index
            entry.paragraph_strengths.append(strength)
            for term in hits:
                entry.terms[term.text] = entry.terms.get(term.text, 0.0) + term.weight
    tags = []
    for topic, entry in scores.items():
        strengths = sorted(entry.paragraph_strengths, reverse=True)
        strength = strengths[0] + 0.25 * sum(strengths[1:4])
        score = 1.0 - math.exp(-strength / scale)
        if score < threshold:
            continue
        top_terms = sorted(entry.terms, key=lambda t: (-entry.terms[t], t))[:6]
        evidence = [", ".join(top_terms)]
        sentence = _best_sentence(paragraphs[entry.best_paragraph], entry.terms,
                                  lexicon.terms[topic])
        if sentence:
            evidence.append(sentence)
        tags.append(TopicTag(id=topic, score=round(score, 3), evidence=evidence))
    tags.sort(key=lambda t: (-t.score, t.id))
    return tags[:max_topics]
