"""dedup's two stages as plain classes: what each does with a batch of messages.

They know nothing of faust or Kafka: messages come in as bytes, and every message they
produce goes out through an injected :class:`Send`. ``services.dedup.app`` wires them to
topics and the error policy; the tests run them in memory.

1. :class:`FingerprintStage` reads ``articles.raw`` (any number of replicas, one per
   group of partitions): each article with its fingerprint, as one batch message to the
   one partition of ``dedup.log``.
2. :class:`DecideStage` reads ``dedup.log`` (one replica at a time): compares each
   sighting with every earlier one that shares enough keys with it, publishes the verdict and
   the story's record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from schemas.article_raw import RawArticle
from services.dedup.detector import LshParams, fingerprint
from services.dedup.index import Decision, StoryIndex
from services.dedup.protocol import (
    Batcher,
    DetectorParams,
    ItemTooLarge,
    Sighting,
    decode_log_message,
)
from services.dedup.stories import StoryTrail
from services.dedup.verdicts import render
from wirewatch.logs import fields
from wirewatch.streaming import ProcessingError

__all__ = ["DecideBatch", "DecideStage", "FingerprintStage", "Send", "Topics"]

log = logging.getLogger("wirewatch.dedup")


@dataclass(frozen=True)
class Topics:
    """The (namespaced) names of the topics the stages send to."""

    log: str
    unique: str
    duplicates: str
    stories: str


class Send(Protocol):
    """Send one message: to a partition, or keyed (the partitioner picks)."""

    def __call__(self, topic: str, value: bytes, *, key: bytes | None = None,
                 partition: int | None = None) -> Awaitable[None]: ...


class FingerprintStage:
    """Stage 1: articles → their sightings on ``dedup.log``."""

    def __init__(self, params: LshParams, topics: Topics, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.params, self.topics, self.clock = params, topics, clock
        self._tag = DetectorParams(**params.tag())

    def new_batch(self) -> Batcher:
        return Batcher(self._tag)

    def handle(self, batch: Batcher, value: bytes) -> None:
        article = RawArticle.from_bytes(value)
        fp = fingerprint(article.body, self.params)
        try:
            batch.add(Sighting(article=article, sig=fp.signature_b64(), sketch=fp.sketch_b64(),
                               size=fp.size, exact=fp.exact, at=self.clock()))
        except ItemTooLarge as exc:
            raise ProcessingError(f"article {article.id}: {exc}") from None

    async def finish(self, batch: Batcher, send: Send) -> None:
        for value in batch.drain():
            await send(self.topics.log, value, partition=0)


@dataclass
class DecideBatch:
    """What one batch of the decide stage publishes at its end."""

    decisions: list[Decision] = field(default_factory=list)
    # The stories the batch changed, each published once with its latest state.
    trails: dict[str, StoryTrail] = field(default_factory=dict)


class DecideStage:
    """Stage 2: sightings → one verdict per article, and each story's record."""

    def __init__(self, params: LshParams, topics: Topics, *, max_age: float,
                 max_entries: int) -> None:
        self.params, self.topics = params, topics
        self.max_age, self.max_entries = max_age, max_entries
        self.index = self.new_index()

    def new_index(self) -> StoryIndex:
        return StoryIndex(self.params, self.max_age, self.max_entries)

    def replay(self, value: bytes) -> None:
        """Apply an earlier message of the log to the index without publishing: how a
        replica that takes the log over catches up."""
        self.index.apply(decode_log_message(value))

    def handle(self, batch: DecideBatch, value: bytes) -> None:
        ignored = self.index.ignored
        for decision in self.index.apply(decode_log_message(value)):
            batch.decisions.append(decision)
            for trail in (*decision.merged, decision.trail):
                if trail is not None:
                    batch.trails[trail.story_id] = trail
        if self.index.ignored > ignored:
            log.warning("sightings made with other detector parameters ignored",
                        extra=fields(ignored=self.index.ignored - ignored,
                                     since_start=self.index.ignored))

    async def finish(self, batch: DecideBatch, send: Send) -> None:
        """Publish the batch's verdicts, then the records of the stories it changed."""
        for decision in batch.decisions:
            article, verdict = decision.article, decision.verdict
            topic = self.topics.unique if verdict.original is None else self.topics.duplicates
            await send(topic, render(article, verdict).to_bytes(), key=article.id.encode())
            if decision.repeated:
                continue
            if verdict.original is None:
                log.info("unique article", extra=fields(article_id=article.id,
                                                        source=article.source))
            else:
                log.info("duplicate removed", extra=fields(
                    article_id=article.id, source=article.source,
                    duplicate_of=verdict.original.story_id,
                    similarity=round(verdict.original.similarity, 3)))
        for story_id in sorted(batch.trails):
            await send(self.topics.stories, batch.trails[story_id].record().to_bytes(),
                            key=story_id.encode())

    def expire(self, now: float) -> int:
        """Forget what is older than the retention; how many articles and trails went."""
        return self.index.expire(now)
