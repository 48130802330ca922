"""notifier's Kafka wiring: ``articles.classified`` → Slack, email and ``alerts``.

Subscriptions come from the compacted ``subscriptions`` topic, which every replica reads
whole, outside the consumer group, into its own index (``services.notifier.live``): a
change applies on every replica as soon as it is read. No article is matched before the
topic has been read to the end it had at start. A record the notifier cannot use is
also read by the group's ``check_subscriptions`` agent, which dead-letters it once.

State, in two tables keyed by story id (the id of the story's first copy, and so the key
of ``articles.classified``; both tables are partitioned like it):

* ``alerted``: per story, every (subscription, channel) slot settled, ``delivered`` or
  ``failed``. A slot is settled once, so a redelivered message, a restarted replica or
  a later copy of the story never alerts twice.
* ``pending``: per story, the slots still to deliver, with their next due time. The agent
  only adds slots here; a dispatcher delivers every due slot in a task of its own, so a
  webhook that hangs or fails holds up no other subscription or channel, and a retry
  waiting for its time survives a restart (the table's changelog brings it back).

After each attempt the slot is settled (``delivered``, or ``failed`` for a permanent
error or once ``NOTIFIER_RETRY_FOR`` has passed: recorded in ``alerts`` and, if failed,
dead-lettered with the reason) or given its next due time; the producer is flushed
before the next step, so a crash repeats at most the one call in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import faust
import httpx
import orjson
from aiokafka import ConsumerRecord

from schemas.alert import Alert
from schemas.article_classified import ClassifiedArticle
from schemas.subscription import Subscription
from schemas.topics import ALERTS, ARTICLES_CLASSIFIED, DEADLETTERS, SUBSCRIPTIONS
from services.notifier.channels import (
    DeliveryError,
    EmailChannel,
    SlackChannel,
    render_email,
    render_slack,
)
from services.notifier.deliveries import (
    DELIVERED,
    FAILED,
    Decision,
    PendingSlot,
    PendingStory,
    decide,
    new_slots,
)
from services.notifier.index import SubscriptionIndex
from services.notifier.live import apply_record, decode_record
from services.notifier.settings import Settings
from services.notifier.subscriptions import SubscriptionError
from services.notifier.topics import SERVICE, TABLE_PARTITIONS, TABLES
from wirewatch.deadletters import REPLAY_HEADER, make_dead_letter
from wirewatch.kafka import follow_forever
from wirewatch.logs import fields
from wirewatch.streaming import ErrorPolicy, ProcessingError, make_app

__all__ = ["SERVICE", "create_app"]

log = logging.getLogger("wirewatch.notifier")


def create_app(settings: Settings, environ: Mapping[str, str] | None = None) -> faust.App:
    """Build the notifier faust app (``environ`` expands the subscriptions' ``${VAR}``)."""
    environ = os.environ if environ is None else environ
    subscriptions = SubscriptionIndex()
    loaded = asyncio.Event()  # the subscriptions topic read to its end at start
    app = make_app(SERVICE, settings)
    policy = ErrorPolicy.for_app(app, settings)
    subscriptions_topic = settings.topic(SUBSCRIPTIONS.name)
    source = app.topic(settings.topic(ARTICLES_CLASSIFIED.name), value_type=bytes)
    alerts = app.topic(settings.topic(ALERTS.name), value_type=bytes)
    deadletters = app.topic(settings.topic(DEADLETTERS.name), value_type=bytes)
    # Written by the dispatcher's tasks too, outside any event: the key's partition is the
    # one Kafka's partitioner gives it, which is its partition of articles.classified.
    # Named once, in services.notifier.topics, where their changelogs are declared too.
    alerted, pending = (app.Table(name, partitions=TABLE_PARTITIONS, value_type=bytes,
                                  use_partitioner=True) for name in TABLES)
    http = httpx.AsyncClient(timeout=settings.http_timeout)
    slack = SlackChannel(http)
    email = EmailChannel(settings.smtp())
    in_flight: set[tuple[str, str]] = set()  # (story, slot) being attempted
    running: set[asyncio.Task[None]] = set()  # held so that they are not collected
    slots_free = asyncio.Semaphore(settings.max_in_flight)
    wake = asyncio.Event()

    def settled_of(story: str) -> dict[str, str]:
        return orjson.loads(alerted.get(story) or b"{}")  # type: ignore[no-any-return]

    def pending_of(story: str) -> PendingStory | None:
        raw = pending.get(story)
        return PendingStory.from_json(orjson.loads(raw)) if raw else None

    def save_pending(story: str, entry: PendingStory) -> None:
        if entry.slots:
            pending[story] = orjson.dumps(entry.to_json())
        elif story in pending:
            del pending[story]

    def apply_subscription(record: ConsumerRecord[bytes, bytes]) -> None:
        change = apply_record(subscriptions, record.key, record.value, environ)
        if change.action == "refused":
            log.warning("subscription record refused; the previous version stays",
                        extra=fields(subscription=change.name, offset=record.offset,
                                     error=change.error))
        else:
            # How long after it was written the change took effect here.
            lag_ms = max(0, round(time.time() * 1000) - record.timestamp)
            log.info("subscription " + change.action, extra=fields(
                subscription=change.name, offset=record.offset, count=len(subscriptions),
                lag_ms=lag_ms))

    @app.task  # type: ignore[untyped-decorator]
    async def follow_subscriptions() -> None:
        """Keeps the index in step with the subscriptions topic, on every replica."""
        def start_again() -> None:
            # Read again from the start into an empty index; no article is matched
            # meanwhile.
            loaded.clear()
            subscriptions.clear()

        await follow_forever(settings.bootstrap_servers, subscriptions_topic,
                             apply_subscription, loaded, on_failure=start_again,
                             what="the subscriptions topic")

    async def check_subscription(event: faust.EventT[bytes], key: bytes | None,
                                 _value: bytes) -> None:
        try:
            # The message's own value: a tombstone is None, an empty value is not one.
            decode_record(key, event.message.value, environ)
        except SubscriptionError as exc:
            raise ProcessingError(str(exc)) from exc

    @app.agent(app.topic(subscriptions_topic, value_type=bytes), name="check_subscriptions")
    async def check_subscriptions(stream: faust.StreamT[bytes]) -> None:
        # Each record reaches one replica here: an unusable one is dead-lettered once,
        # not by every replica that reads the topic.
        async for event in stream.events():
            await policy.run(event.message, "notifier.subscriptions",
                             functools.partial(check_subscription, event))

    async def notify_one(event: faust.EventT[bytes], key: bytes | None, value: bytes) -> None:
        article = ClassifiedArticle.from_bytes(value)
        await loaded.wait()
        story = article.story_id
        # Re-published by `wirewatch deadletters replay`: a failed slot of the story gets
        # a new try (a delivered one never does).
        replay = REPLAY_HEADER in (event.headers or {})
        entry = pending_of(story)
        slots, known = new_slots(article, subscriptions, settled_of(story),
                                 entry.slots if entry else (), time.time(), replay=replay)
        if known:
            # A redelivery, a restart or a later copy of the story: alerted once only.
            log.info("already alerted for this story; skipped", extra=fields(
                article_id=article.id, story_id=story, slots=",".join(known)))
        if not slots:
            return
        msg = event.message
        entry = entry or PendingStory(article, msg.topic, msg.partition, msg.offset)
        for slot in slots:
            entry.slots[slot.key] = slot
        save_pending(story, entry)
        await app.producer.flush()
        wake.set()

    @app.agent(source, name="notify_subscribers")
    async def notify_subscribers(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await policy.run(event.message, "notifier.notify", functools.partial(notify_one, event))

    async def attempt(sub: Subscription, slot: PendingSlot,
                      article: ClassifiedArticle) -> DeliveryError | None:
        try:
            if slot.channel == "slack":
                assert sub.channels.slack is not None
                await slack.send(sub.channels.slack,
                                 render_slack(article, sub.name, slot.reasons))
            else:
                assert sub.channels.email is not None
                await email.send(render_email(article, sub.name, slot.reasons,
                                              settings.smtp_sender, sub.channels.email))
        except DeliveryError as exc:
            return exc
        return None

    async def deliver(story: str, key: str) -> None:
        try:
            async with slots_free:
                await deliver_slot(story, key)
        except Exception:
            # The slot stays pending: the next dispatch tries it again.
            log.exception("delivery step failed", extra=fields(story_id=story, slot=key))
            await asyncio.sleep(1.0)
        finally:
            in_flight.discard((story, key))
            wake.set()

    async def deliver_slot(story: str, key: str) -> None:
        entry = pending_of(story)
        slot = entry.slots.get(key) if entry else None
        if entry is None or slot is None:
            return
        sub = subscriptions.get(slot.subscription)
        now = time.time()
        if sub is None:  # deleted since: nobody wants it any more
            decision = Decision("failed", error=f"subscription {slot.subscription!r} "
                                                "no longer exists")
        else:
            failure = await attempt(sub, slot, entry.article)
            # Other slots of the story may have been settled meanwhile: update the
            # entry as it is now (no await from here to the write), never a stale copy.
            entry = pending_of(story)
            slot = entry.slots.get(key) if entry else None
            if entry is None or slot is None:
                return
            slot.attempts += 1
            now = time.time()
            decision = decide(
                slot, None if failure is None else str(failure),
                retryable=failure is not None and failure.retryable,
                retry_after=failure.retry_after if failure else None, now=now,
                retry_for=settings.retry_for, backoff_base=settings.backoff_base,
                backoff_max=settings.backoff_max)
        if decision.outcome == "retry":
            assert decision.due_at is not None
            slot.due_at, slot.last_error = decision.due_at, decision.error
            save_pending(story, entry)
            await app.producer.flush()
            log.warning("alert delivery failed; will retry", extra=fields(
                subscription=slot.subscription, channel=slot.channel, story_id=story,
                attempts=slot.attempts, error=decision.error,
                retry_in=round(decision.due_at - now, 1)))
            return
        await settle(story, entry, slot, decision)

    async def settle(story: str, entry: PendingStory, slot: PendingSlot,
                     decision: Decision) -> None:
        article = entry.article
        status = DELIVERED if decision.outcome == "delivered" else FAILED
        settled = settled_of(story)
        settled[slot.key] = status
        alerted[story] = orjson.dumps(settled)
        del entry.slots[slot.key]
        save_pending(story, entry)
        record = Alert(
            subscription_id=slot.subscription, article_id=article.id, story_id=story,
            title=article.title, url=article.url, source=article.source,
            reasons=slot.reasons, channel=slot.channel, outcome=status,
            attempts=max(1, slot.attempts), error=decision.error,
            created_at=datetime.now(UTC))
        await alerts.send(key=slot.subscription.encode(), value=record.to_bytes())
        if status == FAILED:
            letter = make_dead_letter(
                stage=f"notifier.deliver.{slot.channel}",
                error=f"subscription {slot.subscription}: {decision.error}",
                payload=article.to_bytes(), key=story, topic=entry.topic,
                partition=entry.partition, offset=entry.offset)
            await deadletters.send(key=story.encode(), value=letter.to_bytes())
        # Durable before the next step: a restarted replica must not alert this again.
        await app.producer.flush()
        log.info("alert " + status, extra=fields(
            subscription=slot.subscription, channel=slot.channel, article_id=article.id,
            story_id=story, attempts=slot.attempts, error=decision.error))

    def ready() -> bool:
        # Not while the tables are restored: the first recovery ends with ``completed``
        # set for good, later ones (after a rebalance) only show in ``in_recovery``. Nor
        # before the subscriptions are known: a pending slot's subscription would look
        # deleted.
        tables: Any = app.tables  # the TableManager, wider than TableManagerT
        return (loaded.is_set() and bool(tables.recovery.completed.is_set())
                and not app.rebalancing and not app.in_recovery)

    @app.task  # type: ignore[untyped-decorator]
    async def dispatch() -> None:
        """Starts a task for every due slot not already being attempted."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=settings.dispatch_interval)
            wake.clear()
            if not ready():
                continue
            now = time.time()
            for story, raw in list(pending.items()):
                entry = PendingStory.from_json(orjson.loads(raw))
                for key, slot in entry.slots.items():
                    if slot.due_at <= now and (story, key) not in in_flight:
                        in_flight.add((story, key))
                        task = asyncio.create_task(deliver(story, key))
                        running.add(task)
                        task.add_done_callback(running.discard)

    @app.service
    class HttpClientCloser(faust.Service):
        """Closes the shared HTTP client when the worker stops."""

        async def on_stop(self) -> None:
            await http.aclose()

    return app
