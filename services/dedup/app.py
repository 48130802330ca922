"""dedup's Kafka wiring: the two stages of ``services.dedup.stages`` in one faust app.

1. ``fingerprint_articles`` reads ``articles.raw`` (key: article id), fingerprints each
   article and sends the batch's sightings to ``dedup.log``. Replicas share the
   partitions of ``articles.raw``, so fingerprinting scales with them.
2. ``decide_articles`` reads ``dedup.log``, whose one partition is read by one replica
   at a time. Its index (:class:`~services.dedup.index.StoryIndex`) compares each
   sighting with every earlier one that shares a key, in log order, and publishes to
   ``articles.unique`` or ``articles.duplicates`` and the story's record to ``stories``.

The log's order is the one order every verdict follows, so two copies that arrived on
different partitions (or at different replicas) meet in the index, and a verdict is a
function of the log alone: the index has no changelog and is rebuilt by replaying the
log when a replica takes it over. A batch's offsets are committed only after it is
handled; a crash repeats it, and the stages give the same answers again.
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
from services.dedup.settings import Settings
from services.dedup.stages import DecideBatch, DecideStage, FingerprintStage, Topics
from services.dedup.topics import LOG, SERVICE
from wirewatch.kafka import read_partition
from wirewatch.logs import fields
from wirewatch.streaming import ErrorPolicy, make_app, take_ready

__all__ = ["SERVICE", "create_app"]

log = logging.getLogger("wirewatch.dedup")


def create_app(settings: Settings) -> faust.App:
    """Build the dedup faust app: topics and agents around the stages."""
    params = settings.lsh_params()
    app = make_app(SERVICE, settings)
    policy = ErrorPolicy(app, settings)
    names = Topics(log=settings.topic(LOG.name), unique=settings.topic(ARTICLES_UNIQUE.name),
                   duplicates=settings.topic(ARTICLES_DUPLICATES.name),
                   stories=settings.topic(STORIES.name))
    raw_topic = app.topic(settings.topic(ARTICLES_RAW.name), value_type=bytes)
    topics = {
        names.log: app.topic(names.log, value_type=bytes, partitions=LOG.partitions),
        names.unique: app.topic(names.unique, value_type=bytes),
        names.duplicates: app.topic(names.duplicates, value_type=bytes),
        names.stories: app.topic(names.stories, value_type=bytes),
    }

    async def send(topic: str, value: bytes, *, key: bytes | None = None,
                   partition: int | None = None) -> None:
        # Under the error policy: a broker outage waits here, never crashes the agent
        # (a batch's offsets are committed only after its sends).
        await policy.retrying(f"dedup.send.{topic}", partial(
            topics[topic].send, key=key, value=value, partition=partition))

    fingerprints = FingerprintStage(params, names)
    decide = DecideStage(params, names, send, max_age=settings.retention_days * 86400,
                         max_entries=settings.max_entries_per_key)

    # The error policy hands each message's key and value to a handler of that shape.
    async def fingerprint_one(batch: Any, key: bytes | None, value: bytes) -> None:
        fingerprints.handle(batch, value)

    async def decide_one(batch: DecideBatch, key: bytes | None, value: bytes) -> None:
        decide.handle(batch, value)

    def batches(stream: faust.StreamT[bytes]) -> AsyncIterator[Sequence[faust.EventT[bytes]]]:
        return take_ready(stream, settings.batch_size, linger=settings.batch_wait)

    @app.agent(raw_topic, name="fingerprint_articles")
    async def fingerprint_articles(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream):
            batch = fingerprints.new_batch()
            for event in events:
                await policy.run(event, "dedup.fingerprint", partial(fingerprint_one, batch))
            await fingerprints.finish(batch, send)

    async def caught_up(offset: int) -> None:
        """The index, caught up with every message of the log before ``offset``: a
        replica that takes the log over replays it from where its index is."""
        index = decide.index
        started, replayed, delay, ignored = time.monotonic(), 0, 0.5, index.ignored
        while index.next_offset < offset:
            try:
                async for record in read_partition(settings.bootstrap_servers, names.log, 0,
                                                   index.next_offset, offset):
                    index.next_offset = record.offset + 1
                    try:
                        decide.replay(record.value or b"")
                    except MessageDecodeError:
                        continue  # dead-lettered when it was first read
                    replayed += 1
                index.next_offset = offset  # all before it applied; offsets may have gaps
            except KafkaError as exc:
                # No verdict can be given without the index: wait for the broker.
                log.warning("replaying dedup.log failed; retrying", extra=fields(
                    at=index.next_offset, error=repr(exc)))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        if replayed:
            log.info("index rebuilt", extra=fields(
                messages=replayed, articles=len(index.entries), upto=offset,
                seconds=round(time.monotonic() - started, 2)))
        if index.ignored > ignored:
            # After a change of detector parameters: the older sightings cannot match.
            log.warning("replaying dedup.log ignored sightings made with other detector "
                        "parameters", extra=fields(ignored=index.ignored - ignored))

    @app.agent(topics[names.log], name="decide_articles")
    async def decide_articles(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream):
            batch = DecideBatch()
            for event in events:
                await caught_up(event.message.offset)
                await policy.run(event, "dedup.decide", partial(decide_one, batch))
                decide.index.next_offset = max(decide.index.next_offset,
                                               event.message.offset + 1)
            await decide.finish(batch)

    @app.on_partitions_assigned.connect
    async def forget_the_index(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """Free the index when another replica reads the log now. If the log comes back
        later, it is replayed."""
        assigned: set[TP] = args[0]  # faust sends the new assignment first
        if not any(tp.topic == names.log for tp in assigned):
            decide.index = decide.new_index()

    @app.timer(settings.sweep_interval)  # type: ignore[untyped-decorator]
    async def expire_state() -> None:
        """Keep memory bounded by the retention: articles and trails older than it can
        no longer match anything."""
        try:
            gone = decide.expire(time.time())
        except Exception:
            log.exception("expiring old state failed")
            return
        if gone:
            log.info("expired old state", extra=fields(articles_and_trails=gone))

    return app
