"""fetcher's wiring: an asyncio service on aiokafka.

Replicas share the feeds through a consumer group on the compacted ``fetcher.state``
topic (key: feed URL). A replica polls the feeds whose key falls in a partition it owns,
after reading that partition's state to its end, so ETag, Last-Modified, backoff and the
ids already published survive restarts and move with the feed on a rebalance.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from schemas.article_raw import RawArticle
from schemas.topics import ARTICLES_RAW, DEADLETTERS
from services.fetcher.download import Download, download
from services.fetcher.feeds import FeedConfig, FeedError, parse_feed
from services.fetcher.polling import FeedState, is_modified
from services.fetcher.settings import Settings
from services.fetcher.topics import STATE, STATE_MAX_BYTES
from wirewatch.deadletters import make_dead_letter
from wirewatch.http import backoff_delay, is_transient_status, retry_after_seconds
from wirewatch.logs import fields

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
        self.state_topic = settings.topic(STATE.name)
        self.raw_topic = settings.topic(ARTICLES_RAW.name)
        self.deadletter_topic = settings.topic(DEADLETTERS.name)
        self.guard = settings.guard()
        self.states: dict[str, FeedState] = {}
        self.loading: dict[int, int] = {}  # partition → end offset still to reach
        self.owned: set[int] = set()
        self.due: dict[str, float] = {}
        self.running: dict[str, asyncio.Task[None]] = {}
        self.stopping = asyncio.Event()
        self.published = 0
        self.polls: Counter[str] = Counter()  # polls that reached the feed, per feed URL
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._host_slots: dict[str, asyncio.Semaphore] = {}
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
                                          enable_idempotence=True, linger_ms=10,
                                          max_request_size=STATE_MAX_BYTES)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers, group_id=s.group(SERVICE),
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_partition_fetch_bytes=STATE_MAX_BYTES,
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
        loop = asyncio.get_running_loop()
        host = urlsplit(feed.url).hostname or ""
        # The host's slot first: a feed waiting for a busy host holds no overall slot.
        host_slots = self._host_slots.setdefault(host, asyncio.Semaphore(
            self.settings.max_per_host))
        delay = feed.interval
        try:
            async with host_slots, self._slots:
                delay = await self.poll(feed)
        except Exception as exc:
            # Whatever went wrong (the broker, a bug), the feed waits its backoff: a poll
            # that failed is never repeated in a tight loop.
            state = self.states.setdefault(feed.url, FeedState())
            state.failures += 1
            state.last_error = f"{type(exc).__name__}: {exc}"
            delay = backoff_delay(state.failures, feed.interval, self.settings.max_backoff)
            log.error("feed poll failed", exc_info=not isinstance(exc, KafkaError),
                      extra=fields(feed=feed.url, error=state.last_error,
                                   failures=state.failures, retry_in=round(delay, 1)))
        finally:
            self.due[feed.url] = loop.time() + delay
            self.running.pop(feed.url, None)

    async def poll(self, feed: FeedConfig) -> float:
        """Fetch one feed once, publish its new items, save its state; the seconds until
        it is due again."""
        assert self._producer is not None
        state = self.states.setdefault(feed.url, FeedState())
        headers = {"User-Agent": self.settings.user_agent}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        delay = feed.interval
        retry_wait: float | None = None
        try:
            got = await download(self.client, feed.url, headers, guard=self.guard,
                                 timeout=self.settings.timeout,
                                 max_bytes=self.settings.max_bytes)
            if is_transient_status(got.status):
                retry_wait = retry_after_seconds(got.headers.get("Retry-After"))
                raise FeedError(f"HTTP {got.status}")
            if not is_modified(got.status):
                log.debug("feed not modified", extra=fields(feed=feed.url))
            elif got.status >= 400:
                raise FeedError(f"HTTP {got.status}")
            else:
                await self._publish_new(feed, state, got)
                # Only once every new item is acknowledged: with the old validators the
                # server answers the items that failed again.
                state.etag = got.headers.get("ETag")
                state.last_modified = got.headers.get("Last-Modified")
            state.failures = 0
            state.last_error = None
            state.ok_at = time.time()
        except FeedError as exc:
            state.failures += 1
            state.last_error = str(exc)
            backoff = backoff_delay(state.failures, feed.interval, self.settings.max_backoff)
            delay = min(retry_wait, self.settings.max_backoff) if retry_wait is not None \
                else backoff
            log.warning("feed failed", extra=fields(
                feed=feed.url, error=state.last_error, failures=state.failures,
                retry_in=round(delay, 1)))
        state.checked_at, state.source = time.time(), feed.source
        await self._producer.send_and_wait(self.state_topic, orjson.dumps(state.to_json()),
                                           key=feed.url.encode())
        self.polls[feed.url] += 1
        return delay

    async def _publish_new(self, feed: FeedConfig, state: FeedState, got: Download) -> None:
        assert self._producer is not None
        # Parsing a big feed takes a while: in a thread, the other feeds' fetches go on.
        parsed = await asyncio.to_thread(parse_feed, got.content, feed.url, feed.source,
                                         datetime.now(UTC), got.headers.get("Content-Type"))
        if parsed.warning:
            log.warning("feed is malformed but readable",
                        extra=fields(feed=feed.url, problem=parsed.warning))
        for reason in parsed.skipped:
            log.warning("feed item skipped", extra=fields(feed=feed.url, reason=reason))
        seen = set(state.seen)
        fresh = [a for a in parsed.articles if a.id not in seen]
        done: list[str] = []
        sending: list[tuple[RawArticle, asyncio.Future[object]]] = []
        failed: list[str] = []
        for article in fresh:
            value = article.to_bytes()
            if len(value) > self.settings.max_item_bytes:
                await self._dead_letter(feed, article, value)
                done.append(article.id)
                continue
            try:
                sending.append((article, await self._producer.send(
                    self.raw_topic, value, key=article.id.encode())))
            except KafkaError as exc:
                failed.append(f"{article.id}: {type(exc).__name__}: {exc}")
        results = await asyncio.gather(*(f for _, f in sending), return_exceptions=True)
        for (article, _), result in zip(sending, results, strict=True):
            if isinstance(result, BaseException):
                failed.append(f"{article.id}: {type(result).__name__}: {result}")
            else:
                done.append(article.id)
                log.info("article fetched", extra=fields(
                    feed=feed.url, article_id=article.id, title=article.title[:80]))
        self.published += len(done)
        # An item is remembered only once Kafka has acknowledged it (or its dead letter):
        # a failed send is tried again at the next poll, never lost.
        state.remember([a.id for a in parsed.articles], done, self.settings.seen_limit)
        log.info("feed read", extra=fields(feed=feed.url, items=len(parsed.articles),
                                           new=len(done), failed=len(failed)))
        if failed:
            raise FeedError(f"{len(failed)} of {len(fresh)} new articles not acknowledged "
                            f"by Kafka, sent again at the next poll (first: {failed[0]})")

    async def _dead_letter(self, feed: FeedConfig, article: RawArticle, value: bytes) -> None:
        assert self._producer is not None
        reason = (f"article of {len(value):,} bytes from feed {feed.url} is over "
                  f"FETCHER_MAX_ITEM_BYTES ({self.settings.max_item_bytes:,})")
        letter = make_dead_letter(stage="fetcher.publish", error=reason, payload=value,
                                  key=article.id)
        await self._producer.send_and_wait(self.deadletter_topic, letter.to_bytes(),
                                           key=article.id.encode())
        log.warning("article too large; sent to deadletters",
                    extra=fields(feed=feed.url, article_id=article.id, bytes=len(value)))
