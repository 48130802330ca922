"""Splitting the seed documents in ``../shared/seeds`` into articles (test code only).

Seed 001 separates articles with "Source link" lines and starts each with its headline.
Seed 002 runs articles together; a new one starts at a dateline ("PARIS —", "Dec. 28 (UPI) —")
or at the photo caption that heads a wire story. Stories that run together without such a
marker stay merged, which can only make a false duplicate less likely, never hide one.
The other seeds are one article each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parents[2] / "shared" / "seeds"

_DATELINE = re.compile(r"^([A-Z][A-Z]{2,}[A-Z ,.]*|[A-Z][a-z]{2}\. \d{1,2} \(UPI\)) — ")
_CAPTION = re.compile(r"(File Photo by|Photo by .*\|.*Photo|\| License Photo)")


@dataclass(frozen=True)
class SeedArticle:
    """One article cut from a seed file."""

    seed: str
    index: int
    title: str
    body: str

    @property
    def id(self) -> str:
        return f"seed-{self.seed}-{self.index:03d}"


def _paragraphs(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _split_source_links(seed: str, text: str) -> list[SeedArticle]:
    articles = []
    for chunk in re.split(r"^Source link\s*$", text, flags=re.MULTILINE):
        paras = _paragraphs(chunk)
        if len(paras) < 2:
            continue
        if len(paras[0]) < 20 and len(paras) > 2:  # a section label such as "Russia"
            paras = paras[1:]
        articles.append(SeedArticle(seed, len(articles), paras[0], "\n\n".join(paras[1:])))
    return articles


def _split_run_together(seed: str, text: str) -> list[SeedArticle]:
    groups: list[list[str]] = [[]]
    previous_was_caption = False
    for para in _paragraphs(text):
        caption = bool(_CAPTION.search(para))
        starts = caption or (_DATELINE.match(para) and not previous_was_caption)
        if starts and groups[-1]:
            groups.append([])
        groups[-1].append(para)
        previous_was_caption = caption
    return [
        SeedArticle(seed, i, "", "\n\n".join(paras))
        for i, paras in enumerate(groups)
        if sum(len(p) for p in paras) > 200
    ]


def seed_articles(directory: Path = SEEDS_DIR) -> list[SeedArticle]:
    """All articles of all seed files, in file order."""
    articles: list[SeedArticle] = []
    for path in sorted(directory.glob("*.txt")):
        seed = path.name[:3]
        text = path.read_text(encoding="utf-8")
        if "\nSource link" in text:
            articles += _split_source_links(seed, text)
        elif _DATELINE.search(text) and len(_paragraphs(text)) > 150:
            articles += _split_run_together(seed, text)
        else:
            paras = _paragraphs(text)
            articles.append(SeedArticle(seed, 0, "", "\n\n".join(paras)))
    return articles
