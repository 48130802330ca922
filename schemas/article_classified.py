"""``articles.classified``: unique articles with their topics."""

from __future__ import annotations

from pydantic import Field

from schemas.article_unique import UniqueArticle
from schemas.base import Event

__all__ = ["TOPIC_IDS", "ClassifiedArticle", "TopicTag"]

# The taxonomy's topic ids, in its order. A consumer may meet an id it does not know once
# the taxonomy grows, so the field itself is not restricted to these.
TOPIC_IDS: tuple[str, ...] = (
    "diplomacy", "strikes", "ground-combat", "energy", "military-aid",
    "economy", "nuclear", "politics", "humanitarian", "security",
)


class TopicTag(Event):
    """One topic given to an article, with why it was given."""

    id: str = Field(description="Topic id from the taxonomy, e.g. ``strikes``.")
    score: float = Field(
        ge=0.0, le=1.0,
        description="Calibrated probability that a reader gives this topic: of the tags "
                    "scored about 0.8, about 80 % were right on held-out labelled articles.",
    )
    evidence: list[str] = Field(
        default_factory=list,
        description="The one to three sentences of the article that added most to the "
                    "score, as written (a long one is cut with an ellipsis).",
    )
    terms: list[str] = Field(
        default_factory=list,
        description="Decisive terms: the words and word pairs that added most to the "
                    "score, as the model sees them (lower-case, accents removed, English "
                    "stems: ``refineri`` for refinery, refineries).",
    )


class ClassifiedArticle(UniqueArticle):
    """A unique article with its topics. Key on the topic: ``id``."""

    topics: list[TopicTag] = Field(
        default_factory=list,
        description="Topics, most probable first; empty for an article outside the war.",
    )
    classifier: str = Field(description="Name of the model that tagged it.")
    classifier_version: str = Field(
        default="",
        description="Version of that model; it changes whenever its training data or "
                    "method change.",
    )
