"""dedup's Kafka wiring: the three stages of ``services.dedup.stages`` in one faust app.

1. ``fingerprint_articles`` reads ``articles.raw`` (key: article id), computes the MinHash
   fingerprint and sends the article to its partition of ``dedup.votes`` and its band keys
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

Each stage takes its input in batches (at most ``DEDUP_BATCH_SIZE`` messages: an idle
stage waits ``DEDUP_BATCH_WAIT`` after a first message for others to join it, a busy one
takes what gathered while it worked), sends one message per receiving partition and
writes each table key once per batch. A batch's offsets are committed only after it is
handled; a crash repeats it, and every stage gives the same answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.types import TP

from schemas.base import MessageDecodeError
from schemas.topics import ARTICLES_DUPLICATES, ARTICLES_RAW, ARTICLES_UNIQUE, STORIES
from services.dedup.protocol import decode_band_message
from services.dedup.settings import Settings
from services.dedup.stages import DecideBatch, DecideStage, FingerprintStage, IndexStage, Topics
from services.dedup.topics import BANDS, SERVICE, TABLES, VOTES
from wirewatch.kafka import read_partition
from wirewatch.logs import fields
from wirewatch.streaming import ErrorPolicy, make_app, take_ready

__all__ = ["SERVICE", "create_app"]

log = logging.getLogger("wirewatch.dedup")


def create_app(settings: Settings) -> faust.App:
    """Build the dedup faust app: topics, tables and agents around the stages."""
    params = settings.lsh_params()
    band_partitions, vote_partitions = BANDS.partitions, VOTES.partitions
    app = make_app(SERVICE, settings)
    policy = ErrorPolicy(app, settings)
    names = Topics(bands=settings.topic(BANDS.name), votes=settings.topic(VOTES.name),
                   unique=settings.topic(ARTICLES_UNIQUE.name),
                   duplicates=settings.topic(ARTICLES_DUPLICATES.name),
                   stories=settings.topic(STORIES.name))
    raw_topic = app.topic(settings.topic(ARTICLES_RAW.name), value_type=bytes)
    topics = {
        names.bands: app.topic(names.bands, value_type=bytes, partitions=band_partitions),
        names.votes: app.topic(names.votes, value_type=bytes, partitions=vote_partitions),
        names.unique: app.topic(names.unique, value_type=bytes),
        names.duplicates: app.topic(names.duplicates, value_type=bytes),
        names.stories: app.topic(names.stories, value_type=bytes),
    }

    # Batches are handled as a whole, so table writes cannot take their partition from
    # the current event: with use_partitioner a key's state lives on the partition that
    # Kafka's partitioner gives the key, which is the partition its messages are sent to.
    def table(name: str) -> Any:
        return app.Table(name, partitions=vote_partitions, value_type=bytes,
                         use_partitioner=True)

    async def send(topic: str, value: bytes, *, key: bytes | None = None,
                   partition: int | None = None) -> None:
        # Under the error policy: a broker outage waits here, never crashes the agent
        # (a batch's offsets are committed only after its sends).
        await policy.retrying(f"dedup.send.{topic}", partial(
            topics[topic].send, key=key, value=value, partition=partition))

    # Named once, in services.dedup.topics, where their changelogs are declared too.
    pending, verdicts, trails = (table(name) for name in TABLES)
    fingerprints = FingerprintStage(params, names, vote_partitions=vote_partitions,
                                    band_partitions=band_partitions)
    index_stage = IndexStage(params, names, vote_partitions=vote_partitions,
                             max_age=settings.retention_days * 86400,
                             max_entries=settings.max_entries_per_band)
    decide = DecideStage(params, names, send, vote_partitions=vote_partitions,
                         band_partitions=band_partitions, pending=pending, verdicts=verdicts,
                         trails=trails)

    # The error policy hands each message's key and value to a handler of that shape.
    async def fingerprint_one(batch: Any, key: bytes | None, value: bytes) -> None:
        fingerprints.handle(batch, value)

    async def index_one(answers: Any, partition: int, key: bytes | None, value: bytes) -> None:
        index_stage.handle(answers, partition, value)

    async def decide_one(batch: DecideBatch, key: bytes | None, value: bytes) -> None:
        await decide.handle(batch, value)

    def batches(stream: faust.StreamT[bytes]) -> AsyncIterator[Sequence[faust.EventT[bytes]]]:
        return take_ready(stream, settings.batch_size, linger=settings.batch_wait)

    @app.agent(raw_topic, name="fingerprint_articles")
    async def fingerprint_articles(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream):
            batch = fingerprints.new_batch()
            for event in events:
                await policy.run(event, "dedup.fingerprint", partial(fingerprint_one, batch))
            await fingerprints.finish(batch, send)

    async def caught_up(partition: int, offset: int) -> None:
        """The partition's index, caught up with every message before ``offset``: a
        replica that takes a partition over replays it from where the index is."""
        index = index_stage.index(partition)
        started, replayed, delay, ignored = time.monotonic(), 0, 0.5, index.ignored
        while index.next_offset < offset:
            try:
                async for record in read_partition(settings.bootstrap_servers, names.bands,
                                                   partition, index.next_offset, offset):
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
        if index.ignored > ignored:
            # After a change of detector parameters: the older entries cannot match.
            log.warning("band index replay ignored registrations made with other detector "
                        "parameters", extra=fields(partition=partition,
                                                   ignored=index.ignored - ignored))

    @app.agent(topics[names.bands], name="index_bands")
    async def index_bands(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream):
            answers = index_stage.new_batch()
            for event in events:
                message = event.message
                await caught_up(message.partition, message.offset)
                await policy.run(event, "dedup.bands",
                                 partial(index_one, answers, message.partition))
                index = index_stage.index(message.partition)
                index.next_offset = max(index.next_offset, message.offset + 1)
            await index_stage.finish(answers, send)

    @app.on_partitions_assigned.connect
    async def forget_moved_indexes(sender: Any, /, *args: Any, signal: Any,
                                   **kwargs: Any) -> None:
        """Free the indexes of partitions now read by another replica. One that comes
        back later is replayed from where it was left."""
        assigned: set[TP] = args[0]  # faust sends the new assignment first
        index_stage.forget(tp.partition for tp in assigned if tp.topic == names.bands)

    @app.agent(topics[names.votes], name="decide_articles")
    async def decide_articles(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream):
            batch = DecideBatch()
            for event in events:
                await policy.run(event, "dedup.decide", partial(decide_one, batch))
            await decide.finish(batch)

    @app.timer(settings.sweep_interval)  # type: ignore[untyped-decorator]
    async def expire_state() -> None:
        """Keep memory bounded by the retention: band entries, verdicts and trails older
        than it can no longer match anything."""
        if app.rebalancing:
            return  # the tables are being recovered; the next sweep will do
        try:
            entries = index_stage.expire()
            keys = decide.expire(settings.retention_days * 86400)
        except Exception:
            log.exception("expiring old state failed")
            return
        if entries or keys:
            log.info("expired old state", extra=fields(band_entries=entries, table_keys=keys))

    @app.timer(settings.ask_retry)  # type: ignore[untyped-decorator]
    async def retry_lookups() -> None:
        try:
            await decide.retry_lookups(after=settings.ask_retry)
        except Exception:
            log.exception("repeating story lookups failed")

    return app
