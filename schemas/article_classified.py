"""``articles.classified``: unique articles with their topics."""

from __future__ import annotations

from pydantic import Field

from schemas.article_unique import UniqueArticle
from schemas.base import Event

__all__ = ["ClassifiedArticle", "TopicTag"]


class TopicTag(Event):
    """One topic given to an article, with why it was given."""

    id: str = Field(description="Topic id from the taxonomy, e.g. ``strikes``.")
    score: float = Field(ge=0.0, le=1.0, description="Confidence in [0, 1].")
    evidence: list[str] = Field(
        default_factory=list, description="Terms and sentences that produced the tag."
    )


class ClassifiedArticle(UniqueArticle):
    """A unique article with its topics. Key on the topic: ``id``."""

    topics: list[TopicTag] = Field(
        default_factory=list, description="Topics, best first; may be empty."
    )
    classifier: str = Field(description="Name and version of the classifier that tagged it.")
