"""``articles.duplicates``: later copies of a story already seen."""

from __future__ import annotations

from pydantic import Field

from schemas.article_raw import RawArticle

__all__ = ["DuplicateArticle"]


class DuplicateArticle(RawArticle):
    """A raw article recognised as a copy of an earlier one. Key on the topic: ``id``."""

    duplicate_of: str = Field(
        min_length=1, description="Id of the earlier article (the story) this one copies."
    )
    similarity: float = Field(
        ge=0.0,
        le=1.0,
        description=(
            "Estimated overlap of the two texts in [0, 1]: the larger of the Jaccard "
            "similarity and the share of the shorter text found in the longer one."
        ),
    )
