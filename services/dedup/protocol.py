"""dedup's internal messages between its stages (not part of the public contract).

``dedup.bands`` (key: band key) carries :class:`BandRegister` and :class:`BandStory`;
``dedup.votes`` (key: article id) carries :class:`VoteArticle` and :class:`VoteReply`, and
:class:`VoteAsk` / :class:`VoteAnswer`, with which a copy learns the story of the earlier
copy it matched when that one's story was not yet recorded in the band.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from schemas.article_raw import RawArticle
from schemas.base import Event

__all__ = ["BandMessage", "BandRegister", "BandStory", "MatchOut", "VoteAnswer", "VoteArticle",
           "VoteAsk", "VoteMessage", "VoteReply", "decode_band_message", "decode_vote_message"]


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
    story_id: str | None = Field(description="None while the band does not know it yet.")
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


class VoteAsk(Event):
    """Sent to ``target``'s partition: which story is ``target`` part of?"""

    op: Literal["ask"] = "ask"
    target: str
    asker: str


class VoteAnswer(Event):
    """Sent back to the asker: the target's story, or the earlier copy to ask next."""

    op: Literal["answer"] = "answer"
    article_id: str = Field(description="The asker.")
    target: str
    story_id: str | None = None
    next: str | None = None


BandMessage = BandRegister | BandStory
VoteMessage = VoteArticle | VoteReply | VoteAsk | VoteAnswer
_VOTE_KINDS: dict[str, type[VoteArticle | VoteReply | VoteAsk | VoteAnswer]] = {
    "reply": VoteReply, "ask": VoteAsk, "answer": VoteAnswer}


def _op(raw: bytes) -> str:
    # Cheap routing on the discriminator before full validation.
    for op in ("register", "story", "article", "reply", "ask", "answer"):
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
    return _VOTE_KINDS.get(_op(raw), VoteArticle).from_bytes(raw)
