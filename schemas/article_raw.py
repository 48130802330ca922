"""``articles.raw``: an article as fetched or imported, before any processing."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, Field

from schemas.base import Event

__all__ = ["RawArticle"]


class RawArticle(Event):
    """One article as published by a source. Key on the topic: ``id``."""

    id: str = Field(
        min_length=1,
        max_length=200,
        description="Stable article id. The fetcher hashes the item's guid (RSS) or id "
                    "(Atom, JSON Feed) with its feed's URL, else the canonical URL, else "
                    "the content; distinct items of a feed never share an id.",
    )
    url: str = Field(min_length=1, description="Canonical URL, tracking parameters removed.")
    source: str = Field(min_length=1, description="Name of the outlet or feed it came from.")
    title: str = Field(default="", description="Headline; may be empty.")
    body: str = Field(
        description="Article text as clean plain text, paragraphs split by blank lines."
    )
    published_at: AwareDatetime | None = Field(
        default=None, description="When the source says it was published, if it says so."
    )
    fetched_at: AwareDatetime = Field(description="When wirewatch (or the importer) obtained it.")
    feed_url: str | None = Field(default=None, description="The feed it was read from, if any.")
    author: str | None = Field(default=None, description="Byline, if the source gives one.")
    language: str | None = Field(default=None, description="Language tag, if the source gives one.")

    def order_time(self) -> datetime:
        """When this copy appeared: publication time if known, else fetch time."""
        return self.published_at or self.fetched_at
