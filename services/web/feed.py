"""The web view's Kafka wiring: every partition of the stored public topics (and of two
internal ones: the fetcher's state for the feeds page, the notifier's pending deliveries
for the alerts still being retried) into the history store, on every replica,
from where the store left off (the beginning when the store file is new); and the
subscription records the pages write."""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaProducer, ConsumerRecord

from schemas.base import MessageDecodeError
from schemas.topics import SUBSCRIPTIONS
from services.fetcher.topics import STATE
from services.notifier.topics import SERVICE as NOTIFIER
from services.web.settings import Settings
from services.web.store import STORED_TOPICS, HistoryStore
from wirewatch.kafka import follow_forever
from wirewatch.logs import fields
from wirewatch.topology import changelog

__all__ = ["SubscriptionWriter", "keep_store"]

log = logging.getLogger("wirewatch.web")
PRUNE_EVERY = 3600.0  # s


async def keep_store(settings: Settings, store: HistoryStore, caught_up: asyncio.Event
                     ) -> None:
    """Apply the topics' records to the store until cancelled; forget stories older than
    the retention every hour."""
    pending = changelog(NOTIFIER, "pending", 1).name
    names = {settings.topic(name): name for name in (*STORED_TOPICS, STATE.name, pending)}
    last_prune = 0.0

    def apply(record: ConsumerRecord[bytes, bytes]) -> None:
        nonlocal last_prune
        position = (record.topic, record.partition, record.offset)
        name = names[record.topic]
        try:
            if name == pending:
                store.put_pending((record.key or b"").decode(errors="replace"), record.value,
                                  position)
                return
            if name == STATE.name:
                store.put_feed((record.key or b"").decode(errors="replace"), record.value,
                               position)
                return
            if name == SUBSCRIPTIONS.name:
                store.put_subscription((record.key or b"").decode(errors="replace"),
                                       record.value, position)
                return
            if record.value is None:
                store.skip(position)
                return
            store.apply(name, record.value, position=position)
        except (MessageDecodeError, ValueError) as exc:
            # The producing service validated it; a bad one here is logged and passed,
            # and it stays on its topic (or in deadletters) with its reason.
            log.warning("record not stored", extra=fields(
                topic=record.topic, partition=record.partition, offset=record.offset,
                error=str(exc)))
            store.skip(position)
        now = time.time()
        if now - last_prune > PRUNE_EVERY:
            last_prune = now
            store.prune(now - settings.retention_days * 86_400)

    # After a failure, read on from the store's offsets.
    await follow_forever(settings.bootstrap_servers, list(names), apply, caught_up,
                         on_failure=caught_up.clear, what="the topics",
                         start=store.next_offset)


class SubscriptionWriter:
    """Publishes subscription records (name, value or None for a tombstone) to the
    subscriptions topic; its producer starts at the first record."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def __call__(self, name: str, value: bytes | None) -> None:
        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self._settings.bootstrap_servers,
                                        acks="all", enable_idempotence=True)
            await producer.start()
            self._producer = producer
        await self._producer.send_and_wait(self._settings.topic(SUBSCRIPTIONS.name), value,
                                           key=name.encode())
        log.info("subscription written", extra=fields(subscription=name,
                                                      deleted=value is None))

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
