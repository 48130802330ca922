"""``articles.unique``: the first copy of each story."""

from __future__ import annotations

from pydantic import Field

from schemas.article_raw import RawArticle

__all__ = ["UniqueArticle"]


class UniqueArticle(RawArticle):
    """A raw article that is the first copy of its story. Key on the topic: ``id``."""

    story_id: str = Field(
        min_length=1,
        description="Id of the story; for the first copy it is the article's own id.",
    )
