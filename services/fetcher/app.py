"""fetcher's wiring: an asyncio service on aiokafka.

Replicas share the feeds through a consumer group on the compacted ``fetcher.state``
topic (key: feed URL). A replica polls the feeds whose key falls in a partition it owns,
after reading that partition's state to its end, so ETag, Last-Modified, backoff and the
ids already published survive restarts and move with the feed on a rebalance.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.partitioner import murmur2

from schemas.topics import ARTICLES_RAW
from services.fetcher.feeds import FeedConfig, FeedError, parse_feed
from services.fetcher.polling import (
    FeedState,
    backoff_delay,
    is_modified,
    is_rate_limited,
    retry_after_seconds,
)
from services.fetcher.settings import Settings
from wirewatch.logs import fields
from wirewatch.topology import FETCHER_STATE

__all__ = ["SERVICE", "Fetcher"]

SERVICE = "fetcher"
log = logging.getLogger("wirewatch.fetcher")


def partition_of(key: str, partitions: int) -> int:
    """The partition the default Kafka partitioner gives a key (murmur2, as in Java)."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class _Assignment(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.fetcher.revoke({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.fetcher.assign(assigned)


class Fetcher:
    """Polls the feeds it owns and publishes new items to ``articles.raw``."""

    def __init__(self, settings: Settings, feeds: list[FeedConfig],
                 client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.feeds = {f.url: f for f in feeds}
        self.client = client
        self.state_topic = settings.topic(FETCHER_STATE)
        self.raw_topic = settings.topic(ARTICLES_RAW.name)
        self.states: dict[str, FeedState] = {}
        self.loading: dict[int, int] = {}  # partition → end offset still to reach
        self.owned: set[int] = set()
        self.due: dict[str, float] = {}
        self.running: dict[str, asyncio.Task[None]] = {}
        self.stopping = asyncio.Event()
        self.published = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._partitions = 1

    def revoke(self, partitions: set[int]) -> None:
        self.owned -= partitions
        for partition in partitions:
            self.loading.pop(partition, None)

    async def assign(self, assigned: set[TopicPartition]) -> None:
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(list(assigned))
        await self._consumer.seek_to_beginning(*assigned)
        for tp in assigned:
            self.owned.add(tp.partition)
            self.loading[tp.partition] = ends[tp]
            for url in self.feeds:
                if partition_of(url, self._partitions) == tp.partition:
                    self.states.pop(url, None)
        log.info("partitions assigned", extra=fields(partitions=sorted(self.owned)))

    async def _state_partitions(self, wait: float = 30.0) -> set[int] | None:
        """The state topic's partitions; a topic created a moment ago may take a few
        seconds to show in the metadata of a busy broker."""
        assert self._consumer is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            await self._consumer.topics()  # a metadata fetch, so the answer is current
            partitions: set[int] | None = self._consumer.partitions_for_topic(self.state_topic)
            if partitions or loop.time() > deadline:
                return partitions
            await asyncio.sleep(1.0)

    def _ready(self, url: str) -> bool:
        partition = partition_of(url, self._partitions)
        return partition in self.owned and partition not in self.loading

    async def run(self) -> None:
        """Run until :meth:`stop`; the consumer and producer are closed on the way out."""
        s = self.settings
        self._producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all",
                                          enable_idempotence=True, linger_ms=10)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers, group_id=s.group(SERVICE),
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=int(s.session_timeout * 1000),
            heartbeat_interval_ms=int(s.heartbeat_interval * 1000))
        await self._producer.start()
        await self._consumer.start()
        try:
            partitions = await self._state_partitions()
            if not partitions:
                raise RuntimeError(f"topic {self.state_topic} does not exist; "
                                   "run `wirewatch create-topics`")
            self._partitions = len(partitions)
            self._consumer.subscribe([self.state_topic], listener=_Assignment(self))
            while not self.stopping.is_set():
                await self._read_state()
                self._schedule()
        finally:
            for task in self.running.values():
                task.cancel()
            await asyncio.gather(*self.running.values(), return_exceptions=True)
            await self._consumer.stop()
            await self._producer.stop()

    def stop(self) -> None:
        self.stopping.set()

    async def _read_state(self) -> None:
        assert self._consumer is not None
        batches = await self._consumer.getmany(timeout_ms=200)
        for records in batches.values():
            for record in records:
                if record.key is None or record.value is None:
                    continue
                url = record.key.decode()
                try:
                    self.states[url] = FeedState.from_json(orjson.loads(record.value))
                except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
                    log.warning("unreadable feed state ignored",
                                extra=fields(feed=url, offset=record.offset, error=str(exc)))
        for partition, end in list(self.loading.items()):
            tp = TopicPartition(self.state_topic, partition)
            if tp not in self._consumer.assignment():
                continue
            if await self._consumer.position(tp) >= end:
                del self.loading[partition]

    def _schedule(self) -> None:
        now = asyncio.get_running_loop().time()
        for url, feed in self.feeds.items():
            if url in self.running or not self._ready(url) or self.due.get(url, 0) > now:
                continue
            self.running[url] = asyncio.create_task(self._poll_guarded(feed))

    async def _poll_guarded(self, feed: FeedConfig) -> None:
        try:
            async with self._slots:
                await self.poll(feed)
        finally:
            self.running.pop(feed.url, None)

    async def poll(self, feed: FeedConfig) -> None:
        """Fetch one feed once, publish its new items, save its state."""
        assert self._producer is not None
        loop = asyncio.get_running_loop()
        state = self.states.setdefault(feed.url, FeedState())
        headers = {"User-Agent": self.settings.user_agent}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        delay = feed.interval
        retry_wait: float | None = None
        try:
            response = await self.client.get(feed.url, headers=headers)
            if is_rate_limited(response.status_code):
                retry_wait = retry_after_seconds(response.headers.get("Retry-After"))
                raise FeedError(f"HTTP {response.status_code} (rate limited)")
            if not is_modified(response.status_code):
                state.failures = 0
                log.debug("feed not modified", extra=fields(feed=feed.url))
            else:
                if response.status_code >= 400:
                    raise FeedError(f"HTTP {response.status_code}")
                if len(response.content) > self.settings.max_bytes:
                    raise FeedError(f"{len(response.content)} bytes, over the limit")
                await self._publish_new(feed, state, response.content)
                state.etag = response.headers.get("ETag")
                state.last_modified = response.headers.get("Last-Modified")
                state.failures = 0
                state.last_error = None
        except (httpx.HTTPError, FeedError) as exc:
            state.failures += 1
            state.last_error = f"{type(exc).__name__}: {exc}"
            delay = retry_wait if retry_wait is not None else backoff_delay(
                state.failures, feed.interval, self.settings.max_backoff)
            log.warning("feed failed; skipped until next poll",
                        extra=fields(feed=feed.url, error=state.last_error,
                                     failures=state.failures, retry_in=round(delay, 1)))
        self.due[feed.url] = loop.time() + delay
        await self._producer.send_and_wait(self.state_topic, orjson.dumps(state.to_json()),
                                           key=feed.url.encode())

    async def _publish_new(self, feed: FeedConfig, state: FeedState, content: bytes) -> None:
        assert self._producer is not None
        parsed = parse_feed(content, feed.url, feed.source, datetime.now(UTC))
        if parsed.warning:
            log.warning("feed is malformed but readable",
                        extra=fields(feed=feed.url, problem=parsed.warning))
        for reason in parsed.skipped:
            log.warning("feed item skipped", extra=fields(feed=feed.url, reason=reason))
        seen = set(state.seen)
        fresh = [a for a in parsed.articles if a.id not in seen]
        for article in fresh:
            await self._producer.send(self.raw_topic, article.to_bytes(), key=article.id.encode())
            log.info("article fetched", extra=fields(feed=feed.url, article_id=article.id,
                                                     title=article.title[:80]))
        await self._producer.flush()
        self.published += len(fresh)
        log.info("feed read", extra=fields(feed=feed.url, items=len(parsed.articles),
                                           new=len(fresh)))
        # Saved only after the articles are acknowledged: a crash in between republishes
        # (dedup answers a repeated id with its first verdict), it never loses an item.
        state.remember([a.id for a in parsed.articles], self.settings.seen_limit)
