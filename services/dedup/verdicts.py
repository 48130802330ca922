"""Collecting the band replies of an article and deciding whether it is a copy (no Kafka)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas.article_duplicate import DuplicateArticle
from schemas.article_raw import RawArticle
from schemas.article_unique import UniqueArticle
from services.dedup.logic import Match, choose_original
from services.dedup.protocol import MatchOut, VoteArticle, VoteMessage, VoteReply

__all__ = ["Pending", "Verdict", "render"]


@dataclass(frozen=True)
class Verdict:
    """Unique (``original`` is None) or a copy of ``original``."""

    original: Match | None

    def to_bytes(self) -> bytes:
        if self.original is None:
            return b'{"unique":true}'
        m = self.original
        return orjson.dumps({"unique": False, "article_id": m.article_id,
                             "story_id": m.story_id, "similarity": m.similarity})

    @classmethod
    def from_bytes(cls, raw: bytes) -> Verdict:
        data = orjson.loads(raw)
        if data["unique"]:
            return cls(None)
        return cls(Match(data["article_id"], data["story_id"], data["similarity"]))


@dataclass
class Pending:
    """What has arrived so far for one article: the article and the band replies."""

    article: dict[str, Any] | None = None
    band_keys: list[str] = field(default_factory=list)
    replies: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, vote: VoteMessage) -> None:
        if isinstance(vote, VoteArticle):
            self.article = vote.article.model_dump(mode="json")
            self.band_keys = list(vote.band_keys)
        else:
            self.replies[vote.band] = [m.model_dump() for m in vote.matches]

    @property
    def complete(self) -> bool:
        return self.article is not None and len(self.replies) >= len(self.band_keys)

    def decide(self) -> Verdict:
        matches = [
            Match(m["article_id"], m["story_id"], m["similarity"])
            for band in self.replies.values()
            for m in band
        ]
        return Verdict(choose_original(matches))

    def to_bytes(self) -> bytes:
        return orjson.dumps({"article": self.article, "band_keys": self.band_keys,
                             "replies": {str(k): v for k, v in self.replies.items()}})

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> Pending:
        if not raw:
            return cls()
        data = orjson.loads(raw)
        return cls(data["article"], data["band_keys"],
                   {int(k): v for k, v in data["replies"].items()})


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


def reply(article_id: str, band: int, matches: list[Match]) -> VoteReply:
    """The bands stage's answer for one band."""
    return VoteReply(
        article_id=article_id,
        band=band,
        matches=[MatchOut(article_id=m.article_id, story_id=m.story_id,
                          similarity=min(1.0, m.similarity)) for m in matches],
    )
