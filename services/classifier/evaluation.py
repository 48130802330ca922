"""Measuring the classifier: per-topic precision, recall and F1 on labelled examples."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

__all__ = [
    "HEADING_TOPICS",
    "LABELLED_SET",
    "Example",
    "TopicMetrics",
    "evaluate",
    "format_report",
    "load_labelled",
    "seed_heading_examples",
]

LABELLED_SET = Path(__file__).parent / "eval" / "labelled.jsonl"

# The editors' headings of daily "key events" digests, mapped to taxonomy topics. A heading
# gives one coarse label per bullet; "Fighting" covers both kinds of fighting, so a bullet
# under it counts as found when either topic is given.
HEADING_TOPICS: dict[str, tuple[str, ...]] = {
    "fighting": ("strikes|ground-combat",),
    "diplomacy": ("diplomacy",),
    "peace talks": ("diplomacy",),
    "ceasefire talks": ("diplomacy",),
    "ceasefire": ("diplomacy",),
    "politics and diplomacy": ("diplomacy|politics",),
    "politics": ("politics",),
    "weapons": ("military-aid",),
    "military aid": ("military-aid",),
    "sanctions": ("economy",),
    "economics": ("economy",),
    "economy": ("economy",),
    "regional security": ("security",),
    "energy": ("energy",),
    "humanitarian": ("humanitarian",),
}


@dataclass(frozen=True)
class Example:
    """A text and its gold labels; a label ``a|b`` is met by predicting a or b."""

    title: str
    body: str
    labels: tuple[str, ...]
    where: str


@dataclass(frozen=True)
class TopicMetrics:
    """Counts and scores of one label."""

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


def load_labelled(path: Path = LABELLED_SET) -> list[Example]:
    """The hand-labelled set: JSON lines of ``title``, ``body`` and ``topics``."""
    examples = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if line.strip():
            data = orjson.loads(line)
            examples.append(Example(data.get("title", ""), data["body"], tuple(data["topics"]),
                                    f"{path.name}:{number}"))
    return examples


def seed_heading_examples(text: str, where: str) -> list[Example]:
    """Bullets of "key events" digests, labelled through their editors' heading."""
    examples = []
    heading: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("•"):
            labels = HEADING_TOPICS.get(heading or "")
            if labels:
                examples.append(Example("", stripped.lstrip("• "), labels, f"{where}:{number}"))
        elif len(stripped) < 40 and not stripped.endswith("."):
            heading = re.sub(r"\s+", " ", stripped).casefold()
    return examples


def evaluate(
    examples: Iterable[Example], predict: Callable[[str, str], set[str]]
) -> list[TopicMetrics]:
    """Per-label counts; a label with alternatives is met by any of them."""
    counts: dict[str, list[int]] = {}
    examples = list(examples)
    labels = sorted({label for ex in examples for label in ex.labels})
    for ex in examples:
        predicted = predict(ex.title, ex.body)
        for label in labels:
            options = set(label.split("|"))
            gold = label in ex.labels
            hit = bool(predicted & options)
            tp_fp_fn = counts.setdefault(label, [0, 0, 0])
            if gold and hit:
                tp_fp_fn[0] += 1
            elif hit:
                tp_fp_fn[1] += 1
            elif gold:
                tp_fp_fn[2] += 1
    return [TopicMetrics(label, *counts[label]) for label in labels]


def format_report(title: str, metrics: list[TopicMetrics], n: int) -> str:
    """A fixed-width table of the metrics with micro averages."""
    lines = [f"{title} ({n} examples)",
             f"{'topic':<24}{'precision':>10}{'recall':>8}{'F1':>7}{'support':>9}"]
    for m in metrics:
        lines.append(f"{m.label:<24}{m.precision:>10.2f}{m.recall:>8.2f}{m.f1:>7.2f}"
                     f"{m.tp + m.fn:>9}")
    micro = TopicMetrics("micro average", sum(m.tp for m in metrics),
                         sum(m.fp for m in metrics), sum(m.fn for m in metrics))
    lines.append(f"{micro.label:<24}{micro.precision:>10.2f}{micro.recall:>8.2f}"
                 f"{micro.f1:>7.2f}{micro.tp + micro.fn:>9}")
    return "\n".join(lines)
