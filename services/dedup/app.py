"""dedup's Kafka wiring: the two stages of ``services.dedup.stages`` on one aiokafka
consumer in the ``dedup`` group.

1. **fingerprint**: records of ``articles.raw`` (key: article id) are fingerprinted and a
   batch's sightings go to ``dedup.log``. Replicas share the partitions of
   ``articles.raw``, so fingerprinting scales with them.
2. **decide**: the one partition of ``dedup.log`` is owned by one replica at a time. Its
   index (:class:`~services.dedup.index.StoryIndex`) compares each sighting with every
   earlier one that shares enough keys, in log order, and the stage publishes to
   ``articles.unique`` or ``articles.duplicates`` and the story's record to ``stories``.

The log's order is the one order every verdict follows, so two copies that arrived on
different partitions (or at different replicas) meet in the index, and a verdict is a
function of the log alone: the index has no changelog and is rebuilt by replaying the
log when a replica takes it over.

Offsets are committed only once every message sent for the records before them has been
delivered (at least once: a crash repeats work, and the stages give the same answers
again). The commit runs beside the next batches instead of stopping them; sends are
batched by the producer in requests of up to :data:`PRODUCER_BATCH_BYTES` per partition,
because aiokafka makes a sender wait for a partition's batch to be delivered once it is
full, and at 16 kB (its default) a few verdicts filled one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from contextlib import aclosing
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from schemas.base import MessageDecodeError
from schemas.topics import ARTICLES_DUPLICATES, ARTICLES_RAW, ARTICLES_UNIQUE, DEADLETTERS, STORIES
from services.dedup.settings import Settings
from services.dedup.stages import DecideBatch, DecideStage, FingerprintStage, Topics
from services.dedup.topics import LOG, SERVICE
from wirewatch.kafka import read_partition
from wirewatch.logs import fields
from wirewatch.streaming import ErrorPolicy

__all__ = ["FETCH_MAX_WAIT_MS", "PRODUCER_BATCH_BYTES", "SERVICE", "Dedup"]

log = logging.getLogger("wirewatch.dedup")

PRODUCER_BATCH_BYTES = 256 * 1024
# aiokafka keeps one fetch in flight per broker, and a fetch of partitions with nothing
# new waits this long for data; the partitions that have some wait behind it (the raw
# articles behind a quiet dedup.log, or the log behind quiet raw partitions). At the
# default 500 ms a burst left the replica idle a fifth of the time, and at 100 ms some
# bursts still stalled; an idle replica pays with 40 empty fetches a second.
FETCH_MAX_WAIT_MS = 25

Records = Sequence[ConsumerRecord[bytes, bytes]]


class _Assignment(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, dedup: Dedup) -> None:
        self.dedup = dedup

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # What was handled is committed before another replica takes it over.
        await self.dedup.commit()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.dedup.assigned(assigned)


class _DeadLetters:
    """The dead-letter topic, sent to through the service's producer."""

    def __init__(self, dedup: Dedup, topic: str) -> None:
        self.dedup, self.topic = dedup, topic

    async def send(self, *, key: bytes | None, value: bytes) -> asyncio.Future[Any]:
        delivery: asyncio.Future[Any] = await self.dedup.producer.send(self.topic, value,
                                                                        key=key)
        return delivery


class Dedup:
    """One dedup replica: both stages, fed by one consumer until :meth:`stop`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        params = settings.lsh_params()
        self.topics = Topics(log=settings.topic(LOG.name),
                             unique=settings.topic(ARTICLES_UNIQUE.name),
                             duplicates=settings.topic(ARTICLES_DUPLICATES.name),
                             stories=settings.topic(STORIES.name))
        self.raw_topic = settings.topic(ARTICLES_RAW.name)
        self.fingerprints = FingerprintStage(params, self.topics)
        self.decide = DecideStage(params, self.topics,
                                  max_age=settings.retention_days * 86400,
                                  max_entries=settings.max_entries_per_key)
        self.policy = ErrorPolicy(_DeadLetters(self, settings.topic(DEADLETTERS.name)),
                                  self._stop_soon)
        self.stopping = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        # Deliveries of what was sent since the last commit, and the offsets it may commit.
        self._deliveries: list[asyncio.Future[Any]] = []
        self._handled: dict[TopicPartition, int] = {}
        self._since_commit, self._last_commit = 0, time.monotonic()
        self._committing: asyncio.Task[None] | None = None

    @property
    def producer(self) -> AIOKafkaProducer:
        assert self._producer is not None, "not running"
        return self._producer

    @property
    def consumer(self) -> AIOKafkaConsumer:
        assert self._consumer is not None, "not running"
        return self._consumer

    def stop(self) -> None:
        self.stopping.set()

    async def _stop_soon(self) -> None:
        self.stop()

    async def run(self) -> None:
        """Run until :meth:`stop`; what was handled is committed on the way out."""
        s = self.settings
        self._producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers, acks="all", linger_ms=5,
            max_batch_size=PRODUCER_BATCH_BYTES)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers, group_id=s.group(SERVICE),
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=int(s.session_timeout * 1000),
            heartbeat_interval_ms=int(s.heartbeat_interval * 1000),
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS)
        await self._producer.start()
        await self._consumer.start()
        sweeping = asyncio.create_task(self._sweep())
        try:
            self.consumer.subscribe([self.raw_topic, self.topics.log],
                                    listener=_Assignment(self))
            while not self.stopping.is_set():
                await self._step()
            await self.commit()
        finally:
            sweeping.cancel()
            await asyncio.gather(sweeping, return_exceptions=True)
            await self._consumer.stop()
            await self._producer.stop()

    async def _step(self) -> None:
        s = self.settings
        fetched = await self.consumer.getmany(timeout_ms=200, max_records=s.batch_size)
        if fetched and s.batch_wait > 0:
            # Let others join a first message (0 s by default: take what is there).
            await asyncio.sleep(s.batch_wait)
            more = await self.consumer.getmany(timeout_ms=0, max_records=s.batch_size)
            for tp, records in more.items():
                fetched[tp] = [*fetched.get(tp, []), *records]
        for tp, records in fetched.items():
            if tp.topic == self.topics.log:
                await self._decide(records)
            else:
                await self._fingerprint(records)
            self._handled[tp] = records[-1].offset + 1
            self._since_commit += len(records)
        if self._handled and (self._since_commit >= s.commit_every
                              or time.monotonic() - self._last_commit >= s.commit_interval):
            self._commit_soon()

    async def _fingerprint(self, records: Records) -> None:
        """Fingerprint the records and send their sightings."""
        batch = self.fingerprints.new_batch()

        async def one(key: bytes | None, value: bytes) -> None:
            self.fingerprints.handle(batch, value)

        for record in records:
            await self.policy.run(record, "dedup.fingerprint", one)
        await self.fingerprints.finish(batch, self._send)

    async def _decide(self, records: Records) -> None:
        """Decide the log's records in order. If the log goes to
        another replica meanwhile (a rebalance), the rest of the batch is still decided
        (on an index replayed again if need be): the same verdicts, sent twice at most."""
        batch = DecideBatch()

        async def one(key: bytes | None, value: bytes) -> None:
            self.decide.handle(batch, value)

        for record in records:
            await self._caught_up(record.offset)
            # No await between the catch-up and the handling: the index cannot be
            # replaced in between (see assigned()).
            await self.policy.run(record, "dedup.decide", one)
            index = self.decide.index
            index.next_offset = max(index.next_offset, record.offset + 1)
        await self.decide.finish(batch, self._send)

    async def _send(self, topic: str, value: bytes, *, key: bytes | None = None,
                    partition: int | None = None) -> None:
        async def buffer() -> None:
            self._deliveries.append(await self.producer.send(
                topic, value, key=key, partition=partition))

        # Under the error policy: a broker outage waits here, never crashes the stage.
        await self.policy.retrying(f"dedup.send.{topic}", buffer)

    def _commit_soon(self) -> None:
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self.commit())

    async def commit(self) -> None:
        """Commit what was handled once everything sent for it has been delivered."""
        if self._committing is not None and self._committing is not asyncio.current_task():
            await asyncio.gather(self._committing, return_exceptions=True)
        deliveries, self._deliveries = self._deliveries, []
        offsets, self._handled = self._handled, {}
        self._since_commit, self._last_commit = 0, time.monotonic()
        # A failed delivery raises here: nothing after it is committed, and the replica
        # stops so that its records are handled again (by it or another).
        try:
            await asyncio.gather(*deliveries)
        except KafkaError as exc:
            log.error("a message was not delivered; stopping without committing",
                      extra=fields(error=repr(exc)))
            self.stop()
            return
        owned = self.consumer.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in owned}
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The partitions moved meanwhile: their new owner handles the records again,
            # with the same answers.
            log.warning("commit refused after a rebalance", extra=fields(error=repr(exc)))

    def assigned(self, assigned: set[TopicPartition]) -> None:
        """Free the index when another replica reads the log now. If the log comes back
        later, it is replayed."""
        if not any(tp.topic == self.topics.log for tp in assigned):
            self.decide.index = self.decide.new_index()

    async def _caught_up(self, offset: int) -> None:
        """The index, caught up with every message of the log before ``offset``: a
        replica that takes the log over replays it from where its index is."""
        started, replayed, delay = time.monotonic(), 0, 0.5
        ignored = self.decide.index.ignored
        # The index is looked up again at every step: a rebalance may replace it while
        # the log is read, and then the replay starts over on the new one.
        while (index := self.decide.index).next_offset < offset:
            try:
                log_records = read_partition(self.settings.bootstrap_servers,
                                             self.topics.log, 0, index.next_offset, offset)
                async with aclosing(log_records):  # its consumer is closed on a break too
                    async for record in log_records:
                        if self.decide.index is not index:
                            break
                        index.next_offset = record.offset + 1
                        try:
                            self.decide.replay(record.value or b"")
                        except MessageDecodeError:
                            continue  # dead-lettered when it was first read
                        replayed += 1
                    else:
                        index.next_offset = offset  # all before it applied; gaps are possible
            except KafkaError as exc:
                # No verdict can be given without the index: wait for the broker.
                log.warning("replaying dedup.log failed; retrying", extra=fields(
                    at=index.next_offset, error=repr(exc)))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        index = self.decide.index
        if replayed:
            log.info("index rebuilt", extra=fields(
                messages=replayed, articles=len(index.entries), upto=offset,
                seconds=round(time.monotonic() - started, 2)))
        if index.ignored > ignored:
            # After a change of detector parameters: the older sightings cannot match.
            log.warning("replaying dedup.log ignored sightings made with other detector "
                        "parameters", extra=fields(ignored=index.ignored - ignored))

    async def _sweep(self) -> None:
        """Keep memory bounded by the retention: articles and trails older than it can
        no longer match anything."""
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                gone = self.decide.expire(time.time())
            except Exception:
                log.exception("expiring old state failed")
                continue
            if gone:
                log.info("expired old state", extra=fields(articles_and_trails=gone))

