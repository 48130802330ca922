"""dedup's three stages as plain classes: what each does with a batch of messages.

They know nothing of faust or Kafka: messages come in as bytes, state lives in the
mappings they are given (faust tables in the service, dicts in tests), and every message
they produce goes out through an injected :class:`Send`. ``services.dedup.app`` wires
them to topics, tables and the error policy; the tests run them in memory.

1. :class:`FingerprintStage` reads ``articles.raw``: MinHash signature, the article to
   its partition of ``dedup.votes``, its band keys to theirs of ``dedup.bands``.
2. :class:`IndexStage` reads ``dedup.bands``: each band's index answers a registration
   with the earlier copies found under its key.
3. :class:`DecideStage` reads ``dedup.votes``: waits for every band's answer, publishes
   the verdict, asks other partitions for stories it does not know yet, and keeps each
   story's trail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

import orjson

from schemas.article_raw import RawArticle
from services.dedup.detector import LshParams, fingerprint
from services.dedup.index import (
    Answer,
    BandIndex,
    register_batcher,
    registrations,
    story_marks,
)
from services.dedup.protocol import (
    BandStory,
    Batcher,
    ItemTooLarge,
    MatchOut,
    StoryJoin,
    VoteAnswer,
    VoteArticle,
    VoteArticles,
    VoteAsk,
    VoteJoins,
    VoteReplies,
    VoteReply,
    decode_band_message,
    decode_vote_message,
    partition_for,
)
from services.dedup.stories import StoryTrail, join, member_of
from services.dedup.verdicts import Pending, Verdict, answer_for, render
from wirewatch.logs import fields
from wirewatch.streaming import ProcessingError

__all__ = ["DecideBatch", "DecideStage", "FingerprintStage", "IndexStage", "Send", "Topics"]

log = logging.getLogger("wirewatch.dedup")
Vote = VoteArticle | VoteReply | VoteAsk | VoteAnswer
Store = MutableMapping[str, bytes]


@dataclass(frozen=True)
class Topics:
    """The (namespaced) names of the topics the stages send to."""

    bands: str
    votes: str
    unique: str
    duplicates: str
    stories: str


class Send(Protocol):
    """Send one message: to a partition, or keyed (the partitioner picks)."""

    def __call__(self, topic: str, value: bytes, *, key: bytes | None = None,
                 partition: int | None = None) -> Awaitable[None]: ...


async def send_batcher(send: Send, topic: str, batcher: Batcher) -> None:
    for partition, value in batcher.drain():
        await send(topic, value, partition=partition)


class FingerprintStage:
    """Stage 1: articles → their band registrations and the articles themselves."""

    def __init__(self, params: LshParams, topics: Topics, *, vote_partitions: int,
                 band_partitions: int, clock: Callable[[], float] = time.time) -> None:
        self.params, self.topics, self.clock = params, topics, clock
        self.vote_partitions, self.band_partitions = vote_partitions, band_partitions

    def new_batch(self) -> tuple[Batcher, Batcher]:
        return Batcher(VoteArticles, "articles"), register_batcher(self.params)

    def handle(self, batch: tuple[Batcher, Batcher], value: bytes) -> None:
        articles, bands = batch
        article = RawArticle.from_bytes(value)
        fp = fingerprint(article.body, self.params)
        try:
            articles.add(partition_for(article.id, self.vote_partitions),
                         VoteArticle(article=article, band_keys=list(fp.band_keys)))
        except ItemTooLarge as exc:
            raise ProcessingError(f"article {article.id}: {exc}") from None
        for partition, item in registrations(article.id, fp, self.params, now=self.clock(),
                                             partitions=self.band_partitions).items():
            bands.add(partition, item)

    async def finish(self, batch: tuple[Batcher, Batcher], send: Send) -> None:
        articles, bands = batch
        await send_batcher(send, self.topics.votes, articles)
        await send_batcher(send, self.topics.bands, bands)


class IndexStage:
    """Stage 2: band registrations → each band's earlier copies, back to the articles'
    partitions of ``dedup.votes``. One index per partition of ``dedup.bands``."""

    def __init__(self, params: LshParams, topics: Topics, *, vote_partitions: int,
                 max_age: float, max_entries: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.params, self.topics, self.clock = params, topics, clock
        self.vote_partitions, self.max_age, self.max_entries = vote_partitions, max_age, max_entries
        self.indexes: dict[int, BandIndex] = {}

    def index(self, partition: int) -> BandIndex:
        """The partition's index (new and empty the first time: the caller replays it)."""
        found = self.indexes.get(partition)
        if found is None:
            found = self.indexes[partition] = BandIndex(self.params, self.max_age,
                                                        self.max_entries)
        return found

    def expire(self) -> int:
        """Drop what is older than the retention from every index; how many entries went."""
        now = self.clock()
        return sum(index.expire(now) for index in self.indexes.values())

    def forget(self, kept: Iterable[int]) -> None:
        """Free the indexes of partitions no longer read here."""
        for partition in set(self.indexes) - set(kept):
            del self.indexes[partition]

    def new_batch(self) -> dict[str, Answer]:
        # An article's bands are spread over partitions; answered together they reach
        # the decide stage as one reply.
        return {}

    def handle(self, answers: dict[str, Answer], partition: int,
               value: bytes) -> None:
        index = self.index(partition)
        ignored = index.ignored
        for article_id, answer in index.apply(decode_band_message(value), self.clock()).items():
            found = answers.setdefault(article_id, Answer())
            found.bands += answer.bands
            found.matches += answer.matches
        if index.ignored > ignored:
            log.warning("registrations made with other detector parameters ignored",
                        extra=fields(partition=partition, ignored=index.ignored - ignored,
                                     since_start=index.ignored))

    async def finish(self, answers: dict[str, Answer], send: Send) -> None:
        replies = Batcher(VoteReplies, "replies")
        for article_id, answer in answers.items():
            replies.add(partition_for(article_id, self.vote_partitions), VoteReply(
                article_id=article_id, bands=answer.bands,
                matches=[MatchOut(article_id=m.article_id, story_id=m.story_id,
                                  similarity=min(1.0, m.similarity)) for m in answer.matches]))
        await send_batcher(send, self.topics.votes, replies)


@dataclass
class DecideBatch:
    """What one batch of the decide stage gathers and writes once at its end."""

    undecided: dict[str, Pending] = field(default_factory=dict)
    marks: Batcher = field(default_factory=lambda: Batcher(BandStory, "marks"))
    joins: Batcher = field(default_factory=lambda: Batcher(VoteJoins, "joins"))
    trails: dict[str, StoryTrail] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)


class DecideStage:
    """Stage 3: votes → one verdict per article, and each story's trail.

    ``pending``, ``verdicts`` and ``trails`` are keyed by article or story id; in the
    service they are faust tables partitioned like ``dedup.votes``.
    """

    def __init__(self, params: LshParams, topics: Topics, send: Send, *,
                 vote_partitions: int, band_partitions: int, pending: Store,
                 verdicts: Store, trails: Store,
                 clock: Callable[[], float] = time.time) -> None:
        self.params, self.topics, self.send, self.clock = params, topics, send, clock
        self.vote_partitions, self.band_partitions = vote_partitions, band_partitions
        self.pending, self.verdicts, self.trails = pending, verdicts, trails

    async def handle(self, batch: DecideBatch, value: bytes) -> None:
        message = decode_vote_message(value)
        if isinstance(message, VoteJoins):
            for joined in message.joins:
                self._join(batch, joined)
        elif isinstance(message, VoteArticles):
            for item in message.articles:
                await self._vote(batch, item.article.id, item)
        elif isinstance(message, VoteReplies):
            for band_reply in message.replies:
                await self._vote(batch, band_reply.article_id, band_reply)
        elif isinstance(message, VoteAsk):
            await self._vote(batch, message.target, message)
        else:
            await self._vote(batch, message.article_id, message)

    async def finish(self, batch: DecideBatch) -> None:
        """Write the batch's state (each key once) and send what it gathered."""
        for article_id, pending in batch.undecided.items():
            self.pending[article_id] = pending.to_bytes()
        for story_id in sorted(batch.changed):
            trail = batch.trails[story_id]
            self.trails[story_id] = orjson.dumps(trail.to_json())
            await self.send(self.topics.stories, trail.record().to_bytes(),
                            key=story_id.encode())
        await send_batcher(self.send, self.topics.bands, batch.marks)
        await send_batcher(self.send, self.topics.votes, batch.joins)

    async def retry_lookups(self, after: float) -> None:
        """Ask again for stories whose answer has not come: a crash can lose either."""
        now = self.clock()
        for raw in list(self.pending.values()):
            ask = Pending.from_bytes(raw).retry(now, after=after)
            if ask is not None:
                await self._send_vote(ask)

    def expire(self, max_age: float) -> int:
        """Forget verdicts and story trails older than ``max_age`` seconds: a copy can no
        longer be matched to them after the retention anyway. How many keys went."""
        now = self.clock()
        removed = 0
        for article_id, raw in list(self.verdicts.items()):
            at = Verdict.from_bytes(raw).at
            if at is not None and now - at > max_age:
                del self.verdicts[article_id]
                removed += 1
        for story_id, raw in list(self.trails.items()):
            last = StoryTrail.from_json(orjson.loads(raw)).last_seen.timestamp()
            if now - last > max_age:
                del self.trails[story_id]
                removed += 1
        return removed

    async def _publish(self, article: RawArticle, verdict: Verdict) -> None:
        out = render(article, verdict)
        topic = self.topics.unique if verdict.original is None else self.topics.duplicates
        await self.send(topic, out.to_bytes(), key=article.id.encode())

    async def _send_vote(self, vote: VoteAsk | VoteAnswer) -> None:
        key = vote.target if isinstance(vote, VoteAsk) else vote.article_id
        await self.send(self.topics.votes, vote.to_bytes(), key=key.encode())

    async def _vote(self, batch: DecideBatch, article_id: str, vote: Vote) -> None:
        decided = self.verdicts.get(article_id)
        if decided is not None:
            verdict = Verdict.from_bytes(decided)
            if isinstance(vote, VoteAsk):
                await self._send_vote(answer_for(verdict, article_id, vote.asker))
                return
            if isinstance(vote, VoteArticle):
                # A redelivery or a re-sent article: the same answer again, never a new one.
                await self._publish(vote.article, verdict)
            if verdict.join is not None:
                # The batch that decided it may have died before its joins were sent;
                # a join that arrived already changes nothing.
                batch.joins.add(partition_for(verdict.join.story_id, self.vote_partitions),
                                verdict.join)
            return
        pending = batch.undecided.get(article_id)
        if pending is None:
            pending = Pending.from_bytes(self.pending.get(article_id))
        now = self.clock()
        if isinstance(vote, VoteAsk):
            step = pending.on_ask(vote.asker, article_id)
        elif isinstance(vote, VoteAnswer):
            step = pending.on_answer(vote, now)
        else:
            step = pending.add(vote, now)
        for answer in step.answers:
            await self._send_vote(answer)
        if step.ask is not None:
            await self._send_vote(step.ask)
        if step.verdict is None:
            batch.undecided[article_id] = pending
            return
        batch.undecided.pop(article_id, None)
        await self._conclude(batch, pending, Verdict(step.verdict.original, self.clock()))

    def _join(self, batch: DecideBatch, item: StoryJoin) -> None:
        trail = batch.trails.get(item.story_id)
        if trail is None and (raw := self.trails.get(item.story_id)) is not None:
            trail = StoryTrail.from_json(orjson.loads(raw))
        trail, changed = join(trail, item.story_id, item.member,
                              datetime.fromtimestamp(self.clock(), UTC))
        batch.trails[item.story_id] = trail
        if changed:
            batch.changed.add(item.story_id)

    async def _conclude(self, batch: DecideBatch, pending: Pending, verdict: Verdict) -> None:
        article = pending.article
        assert article is not None
        # The story's trail lives on the story's partition: the join travels there.
        story_id = verdict.story_id or article.id
        similarity = 1.0 if verdict.original is None else verdict.original.similarity
        joined = StoryJoin(story_id=story_id, member=member_of(article, similarity))
        verdict = replace(verdict, join=joined)
        await self._publish(article, verdict)
        self.verdicts[article.id] = verdict.to_bytes()
        if article.id in self.pending:
            del self.pending[article.id]
        batch.joins.add(partition_for(story_id, self.vote_partitions), joined)
        if verdict.original is None:
            log.info("unique article", extra=fields(article_id=article.id, source=article.source))
        else:
            log.info("duplicate removed", extra=fields(
                article_id=article.id, source=article.source,
                duplicate_of=verdict.original.story_id,
                similarity=round(verdict.original.similarity, 3)))
        # Later copies that meet this one in a band learn the story there, without asking
        # this partition (a unique article's story is its own id).
        marks = story_marks(article.id, story_id, pending.band_keys, self.params,
                            partitions=self.band_partitions)
        for partition, mark in marks.items():
            batch.marks.add(partition, mark)
