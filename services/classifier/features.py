"""Text → features for the topic model: pure functions shared by training and tagging.

An article is cut into paragraphs, sentences and passages; each sentence gives its word
and word-pair features (:class:`Featurizer`). Training and tagging use this one code
path, so the features a model was trained on are exactly those it sees at run time.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import snowballstemmer

from wirewatch.text import words

__all__ = [
    "Featurizer",
    "Passage",
    "Sentence",
    "TfIdf",
    "document_features",
    "membership",
]

_PARAGRAPH = re.compile(r"\n\s*\n|\n")
# A sentence ends at . ! ? or … followed by space and a capital, digit or opening quote;
# "U.S. forces" stays one sentence because "forces" is lower-case.
_SENTENCE = re.compile(r"(?<=[.!?…])[\"”’)]?\s+(?=[\"“‘(A-ZА-ЯЄІЇҐ0-9])")
_MAX_SENTENCE_CHARS = 600  # flattened lists and transcripts have run-on "sentences"


@dataclass(frozen=True)
class Sentence:
    """A sentence as written and its features (unigrams and word pairs)."""

    text: str
    features: tuple[str, ...]


@dataclass(frozen=True)
class Passage:
    """Consecutive sentences of one paragraph: the unit a topic must be the subject of."""

    sentences: tuple[int, ...]  # indexes into the article's sentence list


def _split_sentences(paragraph: str) -> list[str]:
    pieces = []
    for sentence in _SENTENCE.split(paragraph):
        sentence = sentence.strip()
        while len(sentence) > _MAX_SENTENCE_CHARS:
            cut = sentence.rfind(" ", 0, _MAX_SENTENCE_CHARS)
            cut = cut if cut > 0 else _MAX_SENTENCE_CHARS
            pieces.append(sentence[:cut])
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    return pieces


_STEMMER = snowballstemmer.stemmer("english")
_STEMS: dict[str, str] = {}
_STEM_CACHE_SIZE = 200_000


def _stem(word: str) -> str:
    # The Snowball stemmer is pure Python; news reuses a small vocabulary, so a cache
    # turns stemming into a dictionary lookup for almost every word.
    stem = _STEMS.get(word)
    if stem is None:
        if len(_STEMS) >= _STEM_CACHE_SIZE:
            _STEMS.clear()
        stem = _STEMS[word] = _STEMMER.stemWord(word)
    return stem


@dataclass(frozen=True)
class Featurizer:
    """How text becomes features; saved with the model so that tagging repeats training.

    Words are folded (case and accents), function words left out, numbers become ``#``
    and, with ``stem``, words are cut to their Snowball stem ("deliveries" and
    "delivered" both give "deliv"), so that a few hundred articles per topic cover more
    of the ways a thing is said. Each sentence gives its words and, with ``pairs``,
    adjacent word pairs (a pair may span a left-out function word: "attack on the
    refinery" → "attack refineri").
    """

    stop_words: frozenset[str]
    stem: bool = True
    window: int = 3  # sentences per passage in a long paragraph
    pairs: bool = True

    def sentence_features(self, text: str) -> tuple[str, ...]:
        """Unigrams (and adjacent word pairs) of one sentence."""
        stop = self.stop_words
        tokens = ["#" if t.isdigit() else t for t in words(text) if t not in stop]
        if self.stem:
            tokens = [_stem(t) for t in tokens]
        if not self.pairs:
            return tuple(tokens)
        return (*tokens, *(f"{a} {b}" for a, b in pairwise(tokens)))

    def parse_article(self, title: str, body: str) -> tuple[list[Sentence], list[Passage]]:
        """The article's sentences (the title first) and its passages.

        A passage is a paragraph, or a window of ``window`` sentences of a longer one:
        text published without paragraph breaks is still judged a few sentences at a time.
        """
        sentences: list[Sentence] = []
        passages: list[Passage] = []
        paragraphs = [title] if title.strip() else []
        paragraphs += [p for p in _PARAGRAPH.split(body) if p.strip()]
        for paragraph in paragraphs:
            start = len(sentences)
            for text in _split_sentences(paragraph):
                sentences.append(Sentence(text, self.sentence_features(text)))
            indexes = range(start, len(sentences))
            for i in range(0, len(indexes), self.window):
                passages.append(Passage(tuple(indexes[i:i + self.window])))
        return sentences, passages

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON, for the model artefact."""
        return {"stop_words": sorted(self.stop_words), "stem": self.stem,
                "window": self.window, "pairs": self.pairs}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Featurizer:
        """Settings read back from an artefact (one written before ``pairs`` had them)."""
        return cls(frozenset(data["stop_words"]), bool(data["stem"]), int(data["window"]),
                   bool(data.get("pairs", True)))


@dataclass(frozen=True)
class TfIdf:
    """A fitted vocabulary with inverse document frequencies (sublinear tf, L2 norm)."""

    features: tuple[str, ...]  # feature names, in index order
    idf: tuple[float, ...]
    vocabulary: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vocabulary", {f: i for i, f in enumerate(self.features)})

    @classmethod
    def fit(cls, documents: Iterable[Iterable[str]], *, min_df: int = 2,
            max_features: int = 100_000) -> TfIdf:
        """Features seen in at least ``min_df`` documents, the most frequent first."""
        df: Counter[str] = Counter()
        n = 0
        for features in documents:
            df.update(set(features))
            n += 1
        kept = sorted((f for f, c in df.items() if c >= min_df), key=lambda f: (-df[f], f))
        kept = kept[:max_features]
        idf = tuple(math.log((1 + n) / (1 + df[f])) + 1.0 for f in kept)
        return cls(tuple(kept), idf)

    def weights(self, features: Iterable[str]) -> dict[int, float]:
        """Feature index → L2-normalised tf-idf weight of one text's features."""
        counts: Counter[int] = Counter()
        vocabulary = self.vocabulary
        for feature in features:
            index = vocabulary.get(feature)
            if index is not None:
                counts[index] += 1
        if not counts:
            return {}
        idf = self.idf
        raw = {i: (1.0 + math.log(c)) * idf[i] for i, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in raw.values()))
        return {i: v / norm for i, v in raw.items()}


def document_features(sentences: Sequence[Sentence]) -> list[str]:
    """Every feature of every sentence: the article as one bag."""
    return [f for s in sentences for f in s.features]


def membership(passages: Sequence[Passage], sentences: int) -> np.ndarray:
    """(passages, sentences): 1 where the sentence belongs to the passage."""
    matrix = np.zeros((len(passages), sentences))
    for row, passage in enumerate(passages):
        matrix[row, list(passage.sentences)] = 1.0
    return matrix
