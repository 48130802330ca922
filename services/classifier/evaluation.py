"""Measuring the topic model: multi-label precision, recall and F1, and calibration."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import orjson

__all__ = [
    "SMOKE_SET",
    "Reliability",
    "Scores",
    "TopicMetrics",
    "format_reliability",
    "format_scores",
    "load_smoke_set",
    "reliability",
    "score_sets",
]

# Short snippets written for the first lexicon: a smoke test, never a measurement.
SMOKE_SET = Path(__file__).parent / "eval" / "labelled.jsonl"


@dataclass(frozen=True)
class TopicMetrics:
    """Counts and scores of one topic."""

    label: str
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Scores:
    """Per-topic and averaged figures of predicted against gold topic sets."""

    per_topic: list[TopicMetrics]
    articles: int
    predicted_per_article: float
    gold_per_article: float
    predicted_none: int
    gold_none: int

    @property
    def micro(self) -> TopicMetrics:
        return TopicMetrics("micro", sum(m.tp for m in self.per_topic),
                            sum(m.fp for m in self.per_topic), sum(m.fn for m in self.per_topic))

    @property
    def macro_f1(self) -> float:
        present = [m for m in self.per_topic if m.tp + m.fn]
        return sum(m.f1 for m in present) / len(present) if present else 0.0


def score_sets(gold: Sequence[Iterable[str]], predicted: Sequence[Iterable[str]],
               topics: Sequence[str]) -> Scores:
    """Compare gold and predicted topic sets, article by article."""
    gold_sets = [set(g) for g in gold]
    predicted_sets = [set(p) for p in predicted]
    metrics = []
    for topic in topics:
        tp = sum(topic in g and topic in p for g, p in zip(gold_sets, predicted_sets, strict=True))
        fp = sum(topic not in g and topic in p
                 for g, p in zip(gold_sets, predicted_sets, strict=True))
        fn = sum(topic in g and topic not in p
                 for g, p in zip(gold_sets, predicted_sets, strict=True))
        metrics.append(TopicMetrics(topic, tp, fp, fn))
    n = max(len(gold_sets), 1)
    return Scores(metrics, len(gold_sets), sum(map(len, predicted_sets)) / n,
                  sum(map(len, gold_sets)) / n, sum(not p for p in predicted_sets),
                  sum(not g for g in gold_sets))


def format_scores(title: str, scores: Scores) -> str:
    """A fixed-width table: per topic, then micro and macro averages and topic counts."""
    lines = [f"{title} ({scores.articles} articles)",
             f"  {'topic':<16}{'precision':>10}{'recall':>8}{'F1':>7}{'labelled':>10}"
             f"{'tagged':>8}"]
    for m in scores.per_topic:
        lines.append(f"  {m.label:<16}{m.precision:>10.2f}{m.recall:>8.2f}{m.f1:>7.2f}"
                     f"{m.tp + m.fn:>10}{m.tp + m.fp:>8}")
    micro = scores.micro
    lines += [
        f"  {'micro average':<16}{micro.precision:>10.2f}{micro.recall:>8.2f}{micro.f1:>7.2f}"
        f"{micro.tp + micro.fn:>10}{micro.tp + micro.fp:>8}",
        f"  micro-F1 {micro.f1:.3f}   macro-F1 {scores.macro_f1:.3f}",
        f"  topics per article: tagged {scores.predicted_per_article:.2f}, labelled "
        f"{scores.gold_per_article:.2f} ({_ratio(scores):+.0%}); articles with no topic: "
        f"tagged {scores.predicted_none}, labelled {scores.gold_none}",
    ]
    return "\n".join(lines)


def _ratio(scores: Scores) -> float:
    if not scores.gold_per_article:
        return 0.0
    return scores.predicted_per_article / scores.gold_per_article - 1


@dataclass(frozen=True)
class Reliability:
    """Of the scores in [low, high): how many, their mean, and the share that were right."""

    low: float
    high: float
    count: int
    mean_score: float
    right: float


def reliability(probabilities: np.ndarray, y: np.ndarray,
                edges: Sequence[float] = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0001)
                ) -> list[Reliability]:
    """Calibration table over every (article, topic) pair."""
    p, truth = probabilities.ravel(), y.ravel()
    rows = []
    for low, high in pairwise(edges):
        inside = (p >= low) & (p < high)
        count = int(inside.sum())
        rows.append(Reliability(low, min(high, 1.0), count,
                                float(p[inside].mean()) if count else 0.0,
                                float(truth[inside].mean()) if count else 0.0))
    return rows


def format_reliability(title: str, rows: Sequence[Reliability]) -> str:
    """The calibration table as text."""
    lines = [title, f"  {'score':<12}{'pairs':>7}{'mean score':>12}{'right':>8}"]
    for r in rows:
        lines.append(f"  {r.low:.1f}–{r.high:.1f}{'':<5}{r.count:>7}{r.mean_score:>12.2f}"
                     f"{r.right:>8.2f}")
    return "\n".join(lines)


def load_smoke_set(path: Path = SMOKE_SET) -> list[tuple[str, str, set[str]]]:
    """The written snippets: (title, body, topics)."""
    items = []
    for line in path.read_bytes().splitlines():
        if line.strip():
            data = orjson.loads(line)
            items.append((data.get("title", ""), data["body"], set(data["topics"])))
    return items


def evaluate_smoke(predict: Callable[[str, str], set[str]], topics: Sequence[str]) -> Scores:
    """The model on the written snippets."""
    items = load_smoke_set()
    return score_sets([t for _, _, t in items], [predict(a, b) for a, b, _ in items], topics)
