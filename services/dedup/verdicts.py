"""A verdict and the message that publishes it (no Kafka)."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.article_duplicate import DuplicateArticle
from schemas.article_raw import RawArticle
from schemas.article_unique import UniqueArticle
from services.dedup.logic import Match

__all__ = ["Verdict", "render"]


@dataclass(frozen=True)
class Verdict:
    """Unique (``original`` is None) or a copy of ``original``."""

    original: Match | None

    def story_of(self, article_id: str) -> str:
        """The story the article belongs to: its original's, or its own."""
        return article_id if self.original is None else self.original.story_id


def render(article: RawArticle, verdict: Verdict) -> UniqueArticle | DuplicateArticle:
    """The output message for an article and its verdict."""
    fields = article.model_dump()
    if verdict.original is None:
        return UniqueArticle(**fields, story_id=article.id)
    return DuplicateArticle(
        **fields,
        duplicate_of=verdict.original.story_id,
        similarity=round(verdict.original.similarity, 4),
    )
