"""``alerts``: one record per subscription, article and channel delivery."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.base import Event

__all__ = ["Alert"]


class Alert(Event):
    """A subscription matched an article; the record of its delivery. Key: ``subscription_id``."""

    subscription_id: str = Field(description="Id (name) of the subscription that matched.")
    article_id: str = Field(description="Id of the article that matched.")
    story_id: str = Field(description="Story of the article: one alert per story per subscription.")
    title: str = Field(description="Headline of the article, as sent.")
    url: str = Field(description="Link to the article.")
    source: str = Field(description="Outlet of the article.")
    reasons: list[str] = Field(description="Why it matched: the keywords, topics and sources.")
    channel: Literal["slack", "email"] = Field(description="Channel the alert went to.")
    outcome: Literal["delivered", "failed"] = Field(description="Result of the delivery.")
    attempts: int = Field(ge=1, description="How many delivery attempts were made.")
    error: str | None = Field(default=None, description="Why delivery failed, if it did.")
    created_at: AwareDatetime = Field(description="When the outcome was known.")
