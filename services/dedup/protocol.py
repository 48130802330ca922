"""dedup's internal messages between its stages (not part of the public contract).

``dedup.bands`` (key: band key) carries :class:`BandRegister` and :class:`BandStory`;
``dedup.votes`` (key: article id) carries :class:`VoteArticle` and :class:`VoteReply`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from schemas.article_raw import RawArticle
from schemas.base import Event

__all__ = ["BandMessage", "BandRegister", "BandStory", "MatchOut", "VoteArticle", "VoteMessage",
           "VoteReply", "decode_band_message", "decode_vote_message"]


class BandRegister(Event):
    """Register an article under one band key and ask which earlier articles it copies."""

    op: Literal["register"] = "register"
    band: int = Field(ge=-1, description="Band index; -1 is the exact-text band.")
    entry: dict[str, Any] = Field(description="The article's BandEntry as JSON.")


class BandStory(Event):
    """Record the story an article under this band key belongs to."""

    op: Literal["story"] = "story"
    article_id: str
    story_id: str


class MatchOut(Event):
    """An earlier article that the asking article copies."""

    article_id: str
    story_id: str
    similarity: float = Field(ge=0, le=1)


class VoteArticle(Event):
    """The article itself and how many band replies to wait for."""

    op: Literal["article"] = "article"
    article: RawArticle
    band_keys: list[str]


class VoteReply(Event):
    """One band's answer for an article."""

    op: Literal["reply"] = "reply"
    article_id: str
    band: int
    matches: list[MatchOut]


BandMessage = BandRegister | BandStory
VoteMessage = VoteArticle | VoteReply


def _op(raw: bytes) -> str:
    # Cheap routing on the discriminator before full validation.
    for op in ("register", "story", "article", "reply"):
        if f'"op":"{op}"'.encode() in raw:
            return op
    return ""


def decode_band_message(raw: bytes) -> BandMessage:
    """Parse a ``dedup.bands`` value; MessageDecodeError if it is neither kind."""
    if _op(raw) == "story":
        return BandStory.from_bytes(raw)
    return BandRegister.from_bytes(raw)


def decode_vote_message(raw: bytes) -> VoteMessage:
    """Parse a ``dedup.votes`` value; MessageDecodeError if it is neither kind."""
    if _op(raw) == "reply":
        return VoteReply.from_bytes(raw)
    return VoteArticle.from_bytes(raw)
