"""dedup's Kafka wiring: three stages in one faust app.

1. ``fingerprint_articles`` reads ``articles.raw`` (key: article id), computes the MinHash
   signature and sends the article to its partition of ``dedup.votes`` and its band keys
   to theirs of ``dedup.bands``.
2. ``index_bands`` reads ``dedup.bands``. Its index (:class:`BandIndex`, one per
   partition, rebuilt by replaying the partition) holds, per band key, the articles seen
   under it in arrival order; it answers each registration with the earlier copies found
   there.
3. ``decide_articles`` reads ``dedup.votes``, waits for every band's answer and publishes
   to ``articles.unique`` or ``articles.duplicates``. When the earlier copy it matched has
   no story recorded in the band yet (it was itself being decided), it asks that copy's
   partition over the same topic (see ``Pending``). Each verdict also sends the article
   to its story's partition of ``dedup.votes``, where the story's trail (``trails``
   table) takes it in and the story's record is published to ``stories``.

Because a band key always lives on one partition, two copies that arrived on different
partitions of ``articles.raw`` (or at different replicas) still meet in stage 2.

Each stage takes its input in batches (``DEDUP_BATCH_SIZE`` messages or ``DEDUP_BATCH_WAIT``
seconds, whichever comes first), sends one message per receiving partition and writes each
table key once per batch. A batch's offsets are committed only after it is handled; a crash
repeats it, and every stage gives the same answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

import faust
import orjson
from aiokafka.errors import KafkaError
from faust.types import TP

from schemas.article_raw import RawArticle
from schemas.base import MessageDecodeError
from schemas.topics import ARTICLES_DUPLICATES, ARTICLES_RAW, ARTICLES_UNIQUE, STORIES
from services.dedup.index import BandIndex, registrations, story_marks
from services.dedup.logic import fingerprint
from services.dedup.protocol import (
    BandRegister,
    BandStory,
    Batcher,
    ItemTooLarge,
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
from services.dedup.settings import Settings
from services.dedup.stories import StoryTrail, join, member_of
from services.dedup.verdicts import Pending, Verdict, answer_for, render
from wirewatch.kafka import read_partition
from wirewatch.logs import fields
from wirewatch.streaming import ErrorPolicy, ProcessingError, make_app
from wirewatch.topology import DEDUP_BANDS, DEDUP_VOTES, plan

__all__ = ["SERVICE", "create_app"]

SERVICE = "dedup"
log = logging.getLogger("wirewatch.dedup")

Vote = VoteArticle | VoteReply | VoteAsk | VoteAnswer


@dataclass
class DecideBatch:
    """What one batch of the decide stage gathers and writes once at its end."""

    undecided: dict[str, Pending] = field(default_factory=dict)
    marks: Batcher = field(default_factory=lambda: Batcher(BandStory, "marks"))
    joins: Batcher = field(default_factory=lambda: Batcher(VoteJoins, "joins"))
    trails: dict[str, StoryTrail] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)


def _partitions(name: str) -> int:
    return next(t.partitions for t in plan() if t.name == name)


def create_app(settings: Settings) -> faust.App:
    """Build the dedup faust app: topics, tables and agents."""
    params = settings.lsh_params()
    max_age = settings.retention_days * 86400
    band_partitions, vote_partitions = _partitions(DEDUP_BANDS), _partitions(DEDUP_VOTES)
    app = make_app(SERVICE, settings)
    policy = ErrorPolicy(app, settings)

    raw_topic = app.topic(settings.topic(ARTICLES_RAW.name), value_type=bytes)
    bands_topic_name = settings.topic(DEDUP_BANDS)
    bands_topic = app.topic(bands_topic_name, value_type=bytes, partitions=band_partitions)
    votes_topic = app.topic(settings.topic(DEDUP_VOTES), value_type=bytes,
                            partitions=vote_partitions)
    unique_topic = app.topic(settings.topic(ARTICLES_UNIQUE.name), value_type=bytes)
    duplicates_topic = app.topic(settings.topic(ARTICLES_DUPLICATES.name), value_type=bytes)

    # Batches are handled as a whole, so table writes cannot take their partition from
    # the current event: with use_partitioner a key's state lives on the partition that
    # Kafka's partitioner gives the key, which is the partition its messages are sent to.
    pending_table = app.Table("pending", partitions=vote_partitions, value_type=bytes,
                              use_partitioner=True)
    verdict_table = app.Table("verdicts", partitions=vote_partitions, value_type=bytes,
                              use_partitioner=True)
    trail_table = app.Table("trails", partitions=vote_partitions, value_type=bytes,
                            use_partitioner=True)
    stories_topic = app.topic(settings.topic(STORIES.name), value_type=bytes)

    async def send_batches(topic: faust.TopicT, batcher: Batcher, stage: str) -> None:
        for partition, value in batcher.drain():
            # Under the error policy too: a broker outage waits here, never crashes the
            # agent (the batch's offsets are committed only after its sends).
            await policy.retrying(stage, partial(topic.send, value=value, partition=partition))

    def batches(stream: faust.StreamT[bytes]) -> AsyncIterator[Sequence[faust.EventT[bytes]]]:
        # faust's StreamT does not declare take_events; the Stream given to agents has it.
        taken: AsyncIterator[Sequence[faust.EventT[bytes]]] = cast(Any, stream).take_events(
            settings.batch_size, within=settings.batch_wait)
        return taken

    # Stage 1: articles.raw -> band registrations and the articles themselves.

    async def fingerprint_one(articles: Batcher, out: Batcher,
                              key: bytes | None, value: bytes) -> None:
        article = RawArticle.from_bytes(value)
        fp = fingerprint(article.body, params)
        try:
            articles.add(partition_for(article.id, vote_partitions),
                         {"article": article.model_dump(mode="json"),
                          "band_keys": list(fp.band_keys)})
        except ItemTooLarge as exc:
            raise ProcessingError(f"article {article.id}: {exc}") from None
        for partition, item in registrations(article.id, fp, params, now=time.time(),
                                             partitions=band_partitions).items():
            out.add(partition, item)

    @app.agent(raw_topic, name="fingerprint_articles")
    async def fingerprint_articles(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream):
            articles = Batcher(VoteArticles, "articles")
            bands = Batcher(BandRegister, "registrations")
            handler = partial(fingerprint_one, articles, bands)
            for event in events:
                await policy.run(event, "dedup.fingerprint", handler)
            await send_batches(votes_topic, articles, "dedup.fingerprint.send")
            await send_batches(bands_topic, bands, "dedup.fingerprint.send")

    # Stage 2: dedup.bands -> each band's earlier copies, back to the articles' partitions.

    indexes: dict[int, BandIndex] = {}  # per partition of dedup.bands

    async def index_at(partition: int, offset: int) -> BandIndex:
        """The partition's index, caught up with every message before ``offset``."""
        index = indexes.get(partition)
        if index is None:
            index = indexes[partition] = BandIndex(params, max_age,
                                                   settings.max_entries_per_band)
        started, replayed, delay = time.monotonic(), 0, 0.5
        while index.next_offset < offset:
            try:
                async for record in read_partition(settings.bootstrap_servers,
                                                   bands_topic_name, partition,
                                                   index.next_offset, offset):
                    index.next_offset = record.offset + 1
                    try:
                        message = decode_band_message(record.value or b"")
                    except MessageDecodeError:
                        continue  # dead-lettered when it was first read
                    index.apply(message, time.time())
                    replayed += 1
                index.next_offset = offset  # all before it applied; offsets may have gaps
            except KafkaError as exc:
                # The batch cannot be answered without the index: wait for the broker.
                log.warning("replaying the band index failed; retrying", extra=fields(
                    partition=partition, at=index.next_offset, error=repr(exc)))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        if replayed:
            log.info("band index rebuilt", extra=fields(
                partition=partition, messages=replayed, upto=offset,
                seconds=round(time.monotonic() - started, 2)))
        return index

    async def index_one(index: BandIndex, answers: dict[str, list[dict[str, Any]]],
                        key: bytes | None, value: bytes) -> None:
        for article_id, bands in index.apply(decode_band_message(value), time.time()).items():
            answers.setdefault(article_id, []).extend(bands)

    @app.agent(bands_topic, name="index_bands")
    async def index_bands(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream):
            # An article's bands are spread over partitions; answered together they
            # reach the decide stage as one reply.
            answers: dict[str, list[dict[str, Any]]] = {}
            for event in events:
                message = event.message
                index = await index_at(message.partition, message.offset)
                await policy.run(event, "dedup.bands", partial(index_one, index, answers))
                index.next_offset = max(index.next_offset, message.offset + 1)
            replies = Batcher(VoteReplies, "replies")
            for article_id, bands in answers.items():
                replies.add(partition_for(article_id, vote_partitions),
                            {"article_id": article_id, "bands": bands})
            await send_batches(votes_topic, replies, "dedup.bands.send")

    @app.on_partitions_assigned.connect
    async def forget_moved_indexes(sender: Any, /, *args: Any, signal: Any,
                                   **kwargs: Any) -> None:
        """Free the indexes of partitions now read by another replica. One that comes
        back later is replayed from where it was left."""
        assigned: set[TP] = args[0]  # faust sends the new assignment first
        kept = {tp.partition for tp in assigned if tp.topic == bands_topic_name}
        for partition in set(indexes) - kept:
            del indexes[partition]

    # Stage 3: dedup.votes -> one verdict per article.

    async def publish(article: RawArticle, verdict: Verdict) -> None:
        out = render(article, verdict)
        topic = unique_topic if verdict.original is None else duplicates_topic
        await topic.send(key=article.id.encode(), value=out.to_bytes())

    async def send_vote(vote: VoteAsk | VoteAnswer) -> None:
        key = vote.target if isinstance(vote, VoteAsk) else vote.article_id
        await votes_topic.send(key=key.encode(), value=vote.to_bytes())

    async def on_vote(undecided: dict[str, Pending], batch: DecideBatch,
                      article_id: str, vote: Vote) -> None:
        decided = verdict_table.get(article_id)
        if decided is not None:
            verdict = Verdict.from_bytes(decided)
            if isinstance(vote, VoteArticle):
                # A redelivery or a re-sent article: the same answer again, never a new one.
                await publish(vote.article, verdict)
            elif isinstance(vote, VoteAsk):
                await send_vote(answer_for(verdict, article_id, vote.asker))
            return
        pending = undecided.get(article_id)
        if pending is None:
            pending = Pending.from_bytes(pending_table.get(article_id))
        now = time.time()
        if isinstance(vote, VoteAsk):
            step = pending.on_ask(vote.asker, article_id)
        elif isinstance(vote, VoteAnswer):
            step = pending.on_answer(vote, now)
        else:
            step = pending.add(vote, now)
        for answer in step.answers:
            await send_vote(answer)
        if step.ask is not None:
            await send_vote(step.ask)
        if step.verdict is None:
            undecided[article_id] = pending
            return
        undecided.pop(article_id, None)
        await conclude(pending, step.verdict, batch)

    def join_one(trails: dict[str, StoryTrail], changed: set[str], item: StoryJoin) -> None:
        trail = trails.get(item.story_id)
        if trail is None and (raw := trail_table.get(item.story_id)) is not None:
            trail = StoryTrail.from_json(orjson.loads(raw))
        trail, did_change = join(trail, item.story_id, item.member, datetime.now(UTC))
        trails[item.story_id] = trail
        if did_change:
            changed.add(item.story_id)

    async def decide_one(batch: DecideBatch, key: bytes | None, value: bytes) -> None:
        message = decode_vote_message(value)
        vote = partial(on_vote, batch.undecided, batch)
        if isinstance(message, VoteJoins):
            for joined in message.joins:
                join_one(batch.trails, batch.changed, joined)
        elif isinstance(message, VoteArticles):
            for item in message.articles:
                await vote(item.article.id, item)
        elif isinstance(message, VoteReplies):
            for band_reply in message.replies:
                await vote(band_reply.article_id, band_reply)
        elif isinstance(message, VoteAsk):
            await vote(message.target, message)
        else:
            await vote(message.article_id, message)

    @app.agent(votes_topic, name="decide_articles")
    async def decide_articles(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream):
            batch = DecideBatch()
            handler = partial(decide_one, batch)
            for event in events:
                await policy.run(event, "dedup.decide", handler)
            for article_id, pending in batch.undecided.items():
                pending_table[article_id] = pending.to_bytes()
            for story_id in sorted(batch.changed):
                trail = batch.trails[story_id]
                trail_table[story_id] = orjson.dumps(trail.to_json())
                await policy.retrying("dedup.decide.send", partial(
                    stories_topic.send, key=story_id.encode(),
                    value=trail.record().to_bytes()))
            await send_batches(bands_topic, batch.marks, "dedup.decide.send")
            await send_batches(votes_topic, batch.joins, "dedup.decide.send")

    async def conclude(pending: Pending, verdict: Verdict, batch: DecideBatch) -> None:
        article = pending.article
        assert article is not None
        await publish(article, verdict)
        verdict_table[article.id] = verdict.to_bytes()
        if article.id in pending_table:
            del pending_table[article.id]
        # The story's trail lives on the story's partition: the join travels there.
        story_id = verdict.story_id or article.id
        similarity = 1.0 if verdict.original is None else verdict.original.similarity
        batch.joins.add(partition_for(story_id, vote_partitions), {
            "story_id": story_id, "member": member_of(article, similarity).model_dump(
                mode="json")})
        if verdict.original is None:
            log.info("unique article", extra=fields(article_id=article.id, source=article.source))
            return
        log.info(
            "duplicate removed",
            extra=fields(article_id=article.id, source=article.source,
                         duplicate_of=verdict.original.story_id,
                         similarity=round(verdict.original.similarity, 3)),
        )
        # Later copies that meet this one in a band learn the story there, without asking.
        marks = story_marks(article.id, verdict.story_id or article.id, pending.band_keys,
                            params, partitions=band_partitions)
        for partition, item in marks.items():
            batch.marks.add(partition, item)

    @app.timer(settings.ask_retry)  # type: ignore[untyped-decorator]
    async def retry_lookups() -> None:
        """Ask again for stories whose answer has not come: a crash can lose either."""
        now = time.time()
        try:
            for raw in list(pending_table.values()):
                ask = Pending.from_bytes(raw).retry(now, after=settings.ask_retry)
                if ask is not None:
                    await send_vote(ask)
        except Exception:
            log.exception("repeating story lookups failed")

    return app
