"""Which earlier article a copy names as its original. No Kafka."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Match", "choose_original"]


@dataclass(frozen=True)
class Match:
    """An earlier article that the new one copies, and the story it belongs to."""

    article_id: str
    story_id: str
    similarity: float


def choose_original(matches: list[Match]) -> Match | None:
    """The earlier article a new one copies: the most similar, ties by story then id, so
    that the choice does not depend on the order the candidates were found in."""
    if not matches:
        return None
    return min(matches, key=lambda m: (-round(m.similarity, 6), m.story_id, m.article_id))
