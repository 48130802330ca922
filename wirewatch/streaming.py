"""Stream plumbing: the faust app factory and worker, and the error policy that the faust
services and dedup (on aiokafka) share.

Error policy for every stream stage (written down once, applied by :class:`ErrorPolicy`):

* **dead-letter**: a value that is not valid JSON or fails its pydantic model
  (:class:`~schemas.base.MessageDecodeError`), and a valid message that the business logic
  refuses (:class:`ProcessingError`). The record carries stage, topic, partition, offset,
  error and the original payload; the stream goes on with the next message.
* **dead-letter, cut**: a message whose output the broker refuses as too large; the
  dead letter carries the start of the payload (``truncated``).
* **retry, never dead-letter**: errors of the infrastructure, not of the message (broker
  unavailable, no leader, request timeouts, lost connections; ``INFRASTRUCTURE_ERRORS``).
  The message is handled again after a growing wait (0.2 s doubling to 30 s) until the
  broker is back; the partition waits meanwhile. Sends of dead letters and of dedup's
  batches are retried the same way: a failing send never crashes a stage.
* **dead-letter and count**: any other exception while handling one message, logged with
  its traceback. One poison message must not halt a partition; but a run of
  ``max_consecutive_failures`` such failures means something systemic (a bug),
  so the policy then **stops the service** and lets the supervisor restart it. The
  messages stay uncommitted-safe: at-least-once redelivery takes over after the restart.
* the producer itself also retries (``acks=all``; faust's producer and dedup's are not
  idempotent, so a retried send may be written twice, and the consumers downstream are
  idempotent instead); delivery to Slack or SMTP is retried by the notifier's own policy.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import faust
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    LeaderNotAvailableError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    NotEnoughReplicasAfterAppendError,
    NotEnoughReplicasError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
    UnknownTopicOrPartitionError,
)
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery

from schemas.base import MessageDecodeError
from schemas.topics import DEADLETTERS
from wirewatch.deadletters import make_dead_letter
from wirewatch.logs import fields, logging_config
from wirewatch.settings import CommonSettings

__all__ = [
    "INFRASTRUCTURE_ERRORS",
    "ErrorPolicy",
    "Message",
    "ProcessingError",
    "make_app",
    "run_worker",
    "tune_gc",
]

log = logging.getLogger(__name__)


class RewindingRecovery(Recovery):
    """faust's recovery, but the stream partitions start only once flow control is back.

    faust-streaming 0.15.3 ends a recovery (both after a table restore and, in apps with
    no table, when it simply resumes the streams) by resuming the stream partitions, then
    seeking them to the committed offsets, then resuming flow control, whose queues are
    emptied on resume. Records fetched in that window were dropped while the fetch
    position and faust's read offsets had moved past them: a replica restarted after a
    crash silently skipped part of its backlog. Seeking again afterwards was not enough:
    the rest of a batch fetched before that seek still went through and moved the read
    offsets on, so the records fetched again from the seek were dropped as already read.

    Here the stream partitions stay paused until faust has finished; they are then
    seeked to the committed offsets (the start, where nothing is committed) and only
    then resumed, so no batch fetched before the seek exists. Records handled before a
    crash may be handled again, which every stage tolerates.
    """

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        await self._start_streams_after(super().on_recovery_completed, generation_id)

    async def _resume_streams(self, generation_id: int = 0) -> None:
        await self._start_streams_after(super()._resume_streams, generation_id)

    async def _start_streams_after(self, finish: Callable[[int], Awaitable[None]],
                                   generation_id: int) -> None:
        consumer: Any = self.app.consumer  # the transport's Consumer, wider than ConsumerT
        resume = consumer.resume_partitions
        held: set[Any] = set()

        def hold_streams(tps: Any) -> None:
            tps = set(tps)
            changelogs = {tp for tp in tps if self._is_changelog_tp(tp)}
            held.update(tps - changelogs)
            if changelogs:
                resume(changelogs)

        # faust calls the consumer's method; an attribute on the instance shadows it
        # while faust finishes and is removed after.
        consumer.resume_partitions = hold_streams
        try:
            await finish(generation_id)
        finally:
            del consumer.resume_partitions
        if not held or self.app.consumer_generation_id != generation_id:
            # Nothing to start, or a new rebalance has begun: its recovery starts them.
            return
        committed = await consumer.seek_to_committed()
        for tp in held:
            # seek() also resets faust's read offset, which would drop the records.
            await consumer.seek(tp, committed.get(tp) or 0)
        resume(held)


class RewindingTableManager(TableManager):
    """faust's table manager with :class:`RewindingRecovery`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = RewindingRecovery(self.app, self, beacon=self.beacon,
                                               loop=self.loop)
        return self._recovery


class ProcessingError(Exception):
    """A well-formed message that the business logic cannot process; it is dead-lettered."""


Handler = Callable[[bytes | None, bytes], Awaitable[None]]


def _broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{server.strip()}" for server in bootstrap_servers.split(",") if server]


def make_app(service: str, settings: CommonSettings, **options: Any) -> faust.App:
    """A faust app whose id (and consumer group) is the service name in the namespace."""
    replica_dir = Path(settings.data_dir) / service / f"{socket.gethostname()}-{os.getpid()}"
    replica_dir.parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "broker": _broker_urls(settings.bootstrap_servers),
        "store": "memory://",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "topic_partitions": 4,
        "topic_disable_leader": True,
        "web_enabled": False,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        # Services that send one record per record read would otherwise send each in a
        # request of its own; a few milliseconds of waiting fills requests instead.
        "producer_linger": 0.005,
        "table_standby_replicas": 0,
        "datadir": str(replica_dir),
        "broker_commit_every": settings.commit_every,
        "broker_commit_interval": settings.commit_interval,
        "broker_session_timeout": settings.session_timeout,
        "broker_heartbeat_interval": settings.heartbeat_interval,
        "TableManager": RewindingTableManager,
    }
    config.update(options)
    return faust.App(settings.group(service), **config)


GC_THRESHOLDS = (100_000, 20, 100)


def tune_gc() -> None:
    """Keep CPython's collector from rescanning a stream service's long-lived state."""
    # A stream service allocates many short-lived objects per message while it holds a
    # large, slowly growing state (dedup's index). With CPython's default thresholds
    # the collector scans that state over and over: decoding a batch took five times as
    # long as without collections. Objects created at start-up are frozen out of the scans
    # and the youngest generation is collected less often.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_worker(app: faust.App, service: str, settings: CommonSettings) -> None:
    """Run a faust worker in the foreground with wirewatch's logging; returns on shutdown."""
    tune_gc()
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        logging_config=dict(logging_config(service, settings.log_level)),
        quiet=True,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()


# Errors of the infrastructure, not of the message: the same message will go through once
# the broker (or the network) is back, so it is tried again, never dead-lettered.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    KafkaConnectionError, KafkaTimeoutError, RequestTimedOutError, NotLeaderForPartitionError,
    LeaderNotAvailableError, NodeNotReadyError, NotEnoughReplicasError,
    NotEnoughReplicasAfterAppendError, UnknownTopicOrPartitionError, KafkaUnavailableError,
    ConnectionError, TimeoutError,
)
# A message the broker will never take, however often it is sent.
TOO_LARGE_ERRORS: tuple[type[BaseException], ...] = (MessageSizeTooLargeError,)


class Message(Protocol):
    """What the policy reads of a message: a faust event's ``message`` and an aiokafka
    record both have it."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


class DeadLetterSink(Protocol):
    """Where dead letters go: ``send`` buffers one and returns its delivery to await."""

    def send(self, *, key: bytes | None, value: bytes) -> Awaitable[Awaitable[object]]: ...


class ErrorPolicy:
    """Applies the module's error policy to each message of a stream for one stage."""

    def __init__(
        self,
        deadletters: DeadLetterSink,
        stop: Callable[[], Awaitable[object]],
        *,
        max_consecutive_failures: int = 50,
        first_retry: float = 0.2,
        max_retry: float = 30.0,
    ) -> None:
        self._deadletters = deadletters
        self._stop = stop
        self._max_failures = max_consecutive_failures
        self._failures = 0
        self._first_retry, self._max_retry = first_retry, max_retry

    @classmethod
    def for_app(cls, app: faust.App, settings: CommonSettings, **options: Any) -> ErrorPolicy:
        """The policy of a faust app: dead letters through its producer, stopped with it."""
        topic = app.topic(settings.topic(DEADLETTERS.name), value_type=bytes)
        return cls(topic, app.stop, **options)

    async def dead_letter(self, msg: Message, stage: str, error: str) -> None:
        """Send the message to ``deadletters`` with the reason; a send that fails is
        tried again until the broker takes it (the partition waits meanwhile)."""
        record = make_dead_letter(
            stage=stage,
            error=error,
            payload=msg.value,
            key=msg.key,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
        )

        async def send() -> None:
            sent = await self._deadletters.send(key=msg.key, value=record.to_bytes())
            await sent  # delivered, not only buffered

        await self.retrying(f"{stage}.deadletter", send, retry_all=True)
        log.warning(
            "message dead-lettered",
            extra=fields(stage=stage, topic=msg.topic, partition=msg.partition,
                         offset=msg.offset, error=error),
        )

    async def retrying(self, stage: str, attempt: Callable[[], Awaitable[object]], *,
                       retry_all: bool = False) -> None:
        """Run ``attempt`` until it does not fail with an infrastructure error (with
        ``retry_all``, with any error), waiting longer each time."""
        delay = self._first_retry
        while True:
            try:
                await attempt()
                return
            except Exception as exc:
                if not (retry_all or isinstance(exc, INFRASTRUCTURE_ERRORS)) \
                        or isinstance(exc, TOO_LARGE_ERRORS):
                    raise
                log.warning("infrastructure error; retrying", extra=fields(
                    stage=stage, error=f"{type(exc).__name__}: {exc}",
                    retry_in=round(delay, 2)))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry)

    async def run(self, msg: Message, stage: str, handler: Handler) -> None:
        """Handle one message: retried while the infrastructure fails, dead-lettered when
        the message itself is the problem, as the policy says."""
        try:
            await self.retrying(stage, lambda: handler(msg.key, msg.value or b""))
        except (MessageDecodeError, ProcessingError) as exc:
            self._failures = 0
            await self.dead_letter(msg, stage, str(exc))
        except TOO_LARGE_ERRORS as exc:
            self._failures = 0
            await self.dead_letter(msg, stage, f"too large to forward: {exc}")
        except Exception as exc:
            self._failures += 1
            log.exception(
                "unexpected failure handling message",
                extra=fields(stage=stage, topic=msg.topic, partition=msg.partition,
                             offset=msg.offset, consecutive=self._failures),
            )
            await self.dead_letter(msg, stage, f"unexpected {type(exc).__name__}: {exc}")
            if self._failures >= self._max_failures:
                log.critical("too many consecutive failures; stopping",
                             extra=fields(stage=stage, failures=self._failures))
                await self._stop()
        else:
            self._failures = 0
