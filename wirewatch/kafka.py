"""aiokafka helpers for the services, the CLI and the tests: a producer, topic readers,
and a follower that reads whole topics outside any consumer group."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from wirewatch.logs import fields

__all__ = ["admin", "consume", "follow", "follow_forever", "group_assignment", "producer",
           "read_partition", "read_table", "read_topic"]

log = logging.getLogger(__name__)


@asynccontextmanager
async def producer(bootstrap_servers: str, **options: object) -> AsyncIterator[AIOKafkaProducer]:
    """An idempotent ``acks=all`` producer, flushed and closed on exit."""
    prod = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        **options,
    )
    await prod.start()
    try:
        yield prod
        await prod.flush()
    finally:
        await prod.stop()


@asynccontextmanager
async def admin(bootstrap_servers: str) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on exit."""
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="wirewatch-admin")
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def read_partition(
    bootstrap_servers: str, topic: str, partition: int, start: int, end: int
) -> AsyncGenerator[ConsumerRecord[bytes, bytes], None]:
    """Yield the records of one partition from offset ``start`` up to, not including, ``end``
    (from the oldest one kept, if retention has deleted ``start``)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        while await consumer.position(tp) < end:
            fetched = await consumer.getmany(tp, timeout_ms=1000)
            for record in fetched.get(tp, []):
                if record.offset >= end:
                    return
                yield record
    finally:
        await consumer.stop()


async def read_topic(bootstrap_servers: str, topic: str, partitions: int) -> list[bytes]:
    """The values of every record of ``topic`` (partitions 0 to ``partitions`` - 1) up to
    its end offsets at the call, partition by partition; tombstones left out."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    values: list[bytes] = []
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                fetched = await consumer.getmany(tp, timeout_ms=1000)
                values += [r.value for r in fetched.get(tp, [])
                           if r.offset < ends[tp] and r.value is not None]
    finally:
        await consumer.stop()
    return values


async def consume(
    bootstrap_servers: str,
    topics: list[str],
    *,
    from_beginning: bool = True,
    idle_timeout: float | None = None,
    group_id: str | None = None,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield records of ``topics``; stop after ``idle_timeout`` seconds without one."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=group_id is not None,
    )
    await consumer.start()
    loop = asyncio.get_running_loop()
    last_record = loop.time()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    last_record = loop.time()
                    yield record
            if idle_timeout is not None and loop.time() - last_record > idle_timeout:
                return
    finally:
        await consumer.stop()


async def group_assignment(
    bootstrap_servers: str, group: str
) -> tuple[str, list[dict[str, set[int]]]]:
    """A consumer group's state (``Stable``, ``PreparingRebalance``…) and, per member, the
    partitions it owns by topic."""
    async with admin(bootstrap_servers) as client:
        (response,) = await client.describe_consumer_groups([group])
    _error, _group_id, state, _protocol_type, _protocol, members, *_ = response.groups[0]
    owned: list[dict[str, set[int]]] = []
    for *_ids, _metadata, raw_assignment in members:
        by_topic: dict[str, set[int]] = {}
        if raw_assignment:
            assignment = ConsumerProtocolMemberAssignment.decode(raw_assignment)
            for topic, partitions in assignment.assignment:
                by_topic.setdefault(topic, set()).update(partitions)
        owned.append(by_topic)
    return state, owned


async def _all_partitions(consumer: AIOKafkaConsumer, topic: str,
                          timeout: float | None = None) -> list[TopicPartition]:
    """The topic's partitions, once it exists; LookupError if it does not within
    ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = None if timeout is None else started + timeout
    warned = False
    while True:
        await consumer.topics()  # refreshes the metadata
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        if deadline is not None and loop.time() > deadline:
            raise LookupError(f"topic {topic!r} does not exist (run `wirewatch create-topics`)")
        if not warned and loop.time() - started > 10:
            warned = True
            log.warning("waiting for a topic that does not exist; run `wirewatch "
                        "create-topics`", extra=fields(topic=topic))
        await asyncio.sleep(0.5)


async def follow(bootstrap_servers: str, topics: str | Sequence[str],
                 apply: Callable[[ConsumerRecord[bytes, bytes]], None],
                 caught_up: asyncio.Event, *, poll_ms: int = 100,
                 start: Callable[[str, int], int | None] | None = None) -> None:
    """Read every partition of ``topics`` from its beginning (or from the offset
    ``start(topic, partition)`` gives), outside any consumer group, and call ``apply`` on
    each record in order (per partition); set ``caught_up`` once the end offsets found
    at the start are reached; then go on with new records until cancelled.

    For topics read as a table or a history by every replica (each needs all of it).
    """
    names = [topics] if isinstance(topics, str) else list(topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_wait_ms=poll_ms)
    await consumer.start()
    try:
        tps = [tp for name in names for tp in await _all_partitions(consumer, name)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        for tp in tps:
            offset = start(tp.topic, tp.partition) if start else None
            if offset is not None:
                consumer.seek(tp, offset)
        ends = await consumer.end_offsets(tps)
        behind = {tp for tp in tps if ends[tp] > 0}
        while True:
            if not behind:
                caught_up.set()
            fetched = await consumer.getmany(*tps, timeout_ms=poll_ms)
            for records in fetched.values():
                for record in records:
                    apply(record)
            for tp in list(behind):
                if await consumer.position(tp) >= ends[tp]:
                    behind.discard(tp)
    finally:
        await consumer.stop()


async def follow_forever(bootstrap_servers: str, topics: str | Sequence[str],
                         apply: Callable[[ConsumerRecord[bytes, bytes]], None],
                         caught_up: asyncio.Event, *, on_failure: Callable[[], None],
                         what: str,
                         start: Callable[[str, int], int | None] | None = None) -> None:
    """:func:`follow` until cancelled: when reading fails, log it, call ``on_failure``
    (which puts the reader's state back where ``start`` will read on from) and read
    again a second later."""
    while True:
        try:
            await follow(bootstrap_servers, topics, apply, caught_up, start=start)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reading %s failed; reading it again", what)
            on_failure()
            await asyncio.sleep(1.0)


async def read_table(bootstrap_servers: str, topic: str,
                     timeout: float = 10.0) -> dict[bytes, bytes]:
    """The latest value of each key of a compacted ``topic`` up to its end offsets at the
    call; a key whose latest record is a tombstone is left out. LookupError if the topic
    does not exist within ``timeout`` seconds."""
    latest: dict[bytes, bytes] = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = await _all_partitions(consumer, topic, timeout)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                fetched = await consumer.getmany(tp, timeout_ms=1000)
                for record in fetched.get(tp, []):
                    if record.offset >= ends[tp] or record.key is None:
                        continue
                    if record.value is None:
                        latest.pop(record.key, None)
                    else:
                        latest[record.key] = record.value
    finally:
        await consumer.stop()
    return latest
