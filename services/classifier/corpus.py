"""The labelled topic corpus in ``data/topics/``: reading it, its splits and its agreement.

``articles.jsonl`` holds the real articles with their provenance and split;
``labels/pass-a.jsonl`` and ``labels/pass-b.jsonl`` are two independent labelling passes;
``labels/adjudicated.jsonl`` is the label set that training and evaluation use. A bad
line is refused with its file, line and field.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.article_classified import TOPIC_IDS
from schemas.base import describe_errors
from services.dedup.detector import LshParams, shingles
from wirewatch.text import words

__all__ = [
    "CORPUS_DIR",
    "SPLITS",
    "CorpusArticle",
    "CorpusError",
    "Example",
    "LabelRecord",
    "Split",
    "add_articles",
    "cohen_kappa",
    "corpus_digest",
    "group_stories",
    "load_articles",
    "load_examples",
    "load_labels",
    "split_of",
]

CORPUS_DIR = Path(__file__).resolve().parents[2] / "data" / "topics"
Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")
# Percent of stories per split: a story's hash decides, so adding articles never moves one.
_TEST_PERCENT, _VALIDATION_PERCENT = 20, 15


class CorpusError(ValueError):
    """The corpus is unusable; the message names the file, line and field."""


class CorpusArticle(BaseModel):
    """One real article with where it came from and under which licence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    source: str = Field(min_length=1, description="Publisher, e.g. kremlin.ru.")
    kind: str = Field(min_length=1, description="Sampling stratum, e.g. wh-offtopic.")
    title: str
    body: str = Field(min_length=1)
    url: str
    date: str = Field(pattern=r"^(\d{4}-\d{2}-\d{2})?$", description="YYYY-MM-DD, or empty.")
    licence: str = Field(min_length=1)
    repository: str = Field(min_length=1, description="owner/name the text was taken from.")
    commit: str = Field(pattern=r"^[0-9a-f]{40}$")
    path: str = Field(min_length=1, description="File inside that repository.")
    story: str = Field(min_length=1, description="Id of the group of copies it belongs to.")
    split: Split


class LabelRecord(BaseModel):
    """An article's topics in one labelling pass (or after adjudication)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    topics: tuple[str, ...]
    in_scope: bool = Field(description="Whether any part is about the war or its region.")

    @field_validator("topics")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in TOPIC_IDS]
        if unknown:
            raise ValueError(f"unknown topic id(s) {unknown}; known: {', '.join(TOPIC_IDS)}")
        if len(set(value)) != len(value):
            raise ValueError("a topic is listed twice")
        return value


@dataclass(frozen=True)
class Example:
    """An article and its adjudicated topics."""

    article: CorpusArticle
    topics: frozenset[str]

    @property
    def id(self) -> str:
        return self.article.id


_Record = TypeVar("_Record", bound=BaseModel)


def _read_jsonl(path: Path, model: type[_Record]) -> list[_Record]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from exc
    records = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(model.model_validate(orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            raise CorpusError(f"{path}:{number}: not valid JSON ({exc})") from exc
        except ValidationError as exc:
            raise CorpusError(f"{path}:{number}: {describe_errors(exc)}") from exc
    return records


def _unique_ids(records: Sequence[CorpusArticle | LabelRecord], path: Path) -> None:
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            raise CorpusError(f"{path}: id {record.id!r} appears twice")
        seen.add(record.id)


def load_articles(directory: Path = CORPUS_DIR) -> list[CorpusArticle]:
    """Every article of the corpus, in file order."""
    path = directory / "articles.jsonl"
    articles = _read_jsonl(path, CorpusArticle)
    _unique_ids(articles, path)
    return articles


def load_labels(path: Path) -> dict[str, LabelRecord]:
    """A label file as id → record."""
    labels = _read_jsonl(path, LabelRecord)
    _unique_ids(labels, path)
    return {label.id: label for label in labels}


def load_examples(
    directory: Path = CORPUS_DIR, splits: Iterable[Split] = SPLITS,
    labels: str = "labels/adjudicated.jsonl",
) -> list[Example]:
    """Articles of the given splits with their labels; every article must be labelled."""
    wanted = set(splits)
    articles = load_articles(directory)
    path = directory / labels
    by_id = load_labels(path)
    missing = [a.id for a in articles if a.id not in by_id]
    if missing:
        raise CorpusError(f"{path}: no labels for {len(missing)} article(s), e.g. {missing[:3]}")
    extra = sorted(set(by_id) - {a.id for a in articles})
    if extra:
        raise CorpusError(f"{path}: labels for unknown article(s) {extra[:3]}")
    return [Example(a, frozenset(by_id[a.id].topics)) for a in articles if a.split in wanted]


def split_of(story: str) -> Split:
    """The split of a story: fixed by its id's hash, so it never moves."""
    bucket = int.from_bytes(hashlib.sha256(story.encode()).digest()[:4], "big") % 100
    if bucket < _TEST_PERCENT:
        return "test"
    if bucket < _TEST_PERCENT + _VALIDATION_PERCENT:
        return "validation"
    return "train"


_DEDUP = LshParams()


def group_stories(
    texts: Sequence[str], *, jaccard: float = _DEDUP.jaccard_threshold,
    containment: float = _DEDUP.containment_threshold, known: int = 0,
) -> list[int]:
    """For each text, the index of the first text it is a copy of (itself if none).

    A copy shares ≥ ``jaccard`` of its five-word shingles with the other text, or
    ``containment`` of the shorter one's; the same rule dedup uses. The first ``known``
    texts (the corpus so far) keep their own groups; only the later ones are grouped.
    """
    index: dict[bytes, list[int]] = {}
    # Exact shingle sets, not dedup's MinHash estimate: the corpus is small enough.
    shingle_sets = [shingles(words(t), _DEDUP.shingle_size) or {b""} for t in texts]
    first: list[int] = []
    for i, mine in enumerate(shingle_sets):
        shared: Counter[int] = Counter()
        for shingle in mine:
            shared.update(index.get(shingle, ()))
        group = i
        if i >= known:
            for j, count in sorted(shared.items()):
                other = shingle_sets[j]
                if (count / len(mine | other) >= jaccard
                        or count / min(len(mine), len(other)) >= containment):
                    group = first[j]
                    break
        first.append(group)
        for shingle in mine:
            index.setdefault(shingle, []).append(i)
    return first


def add_articles(directory: Path, path: Path) -> list[CorpusArticle]:
    """Append the articles of a JSON-lines file to the corpus, each with its story (an
    earlier article it copies, or itself) and the split that story falls in."""
    existing = load_articles(directory) if (directory / "articles.jsonl").exists() else []
    try:
        raw = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    except (OSError, orjson.JSONDecodeError) as exc:
        raise CorpusError(f"{path}: {exc}") from exc
    texts = [a.body for a in existing] + [str(r.get("body", "")) for r in raw]
    groups = group_stories(texts, known=len(existing))
    stories = [a.story for a in existing]
    added = []
    for number, (record, group) in enumerate(zip(raw, groups[len(existing):], strict=True), 1):
        story = stories[group] if group < len(stories) else str(record.get("id"))
        stories.append(story)
        try:
            added.append(CorpusArticle.model_validate(
                {**record, "story": story, "split": split_of(story)}))
        except ValidationError as exc:
            raise CorpusError(f"{path}:{number}: {describe_errors(exc)}") from exc
    _unique_ids([*existing, *added], path)
    with (directory / "articles.jsonl").open("ab") as handle:
        for article in added:
            handle.write(orjson.dumps(article.model_dump()) + b"\n")
    return added


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Cohen's kappa of two raters' yes/no decisions on the same items."""
    n = len(a)
    if n == 0 or n != len(b):
        raise ValueError("kappa needs two equally long, non-empty sequences")
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected == 1.0:
        return 1.0  # both raters gave one answer to everything: perfect, if trivial
    return (observed - expected) / (1 - expected)


def corpus_digest(examples: Iterable[Example]) -> str:
    """A short hash of the texts and labels a model is trained on."""
    digest = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: e.id):
        digest.update(orjson.dumps([ex.id, ex.article.title, ex.article.body,
                                    sorted(ex.topics)]))
    return digest.hexdigest()[:12]
