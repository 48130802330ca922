"""notifier's Kafka wiring: ``articles.classified`` → Slack, email and ``alerts``.

State: the ``alerted`` table, keyed by story id (which is the id of the story's first
copy, and so the key of ``articles.classified``), remembers every (subscription, channel)
already handled for a story. It is checked before and written, and the producer flushed,
right after each delivery, so a redelivered message or a restarted replica does not
alert twice. A delivery that still fails after the retry policy is recorded in ``alerts``
with outcome ``failed`` and dead-lettered with its reason.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime

import faust
import httpx
import orjson

from schemas.alert import Alert
from schemas.article_classified import ClassifiedArticle
from schemas.topics import ALERTS, ARTICLES_CLASSIFIED, DEADLETTERS
from services.notifier.channels import (
    DeliveryResult,
    EmailChannel,
    SlackChannel,
    deliver,
    render_email,
    render_slack,
)
from services.notifier.settings import Settings
from services.notifier.subscriptions import Subscription, load_subscriptions
from wirewatch.deadletters import make_dead_letter
from wirewatch.logs import fields
from wirewatch.streaming import ErrorPolicy, make_app

__all__ = ["SERVICE", "create_app"]

SERVICE = "notifier"
log = logging.getLogger("wirewatch.notifier")


def create_app(settings: Settings) -> faust.App:
    """Build the notifier faust app."""
    subscriptions = load_subscriptions(settings.subscriptions)
    app = make_app(SERVICE, settings)
    policy = ErrorPolicy(app, settings)
    source = app.topic(settings.topic(ARTICLES_CLASSIFIED.name), value_type=bytes)
    alerts = app.topic(settings.topic(ALERTS.name), value_type=bytes)
    deadletters = app.topic(settings.topic(DEADLETTERS.name), value_type=bytes)
    alerted = app.Table("alerted", partitions=ARTICLES_CLASSIFIED.partitions, value_type=bytes)
    http = httpx.AsyncClient(timeout=settings.http_timeout)
    slack = SlackChannel(http)
    email = EmailChannel(settings.smtp())

    async def send_one(sub: Subscription, channel: str, article: ClassifiedArticle,
                       reasons: list[str]) -> DeliveryResult:
        if channel == "slack":
            assert sub.channels.slack is not None
            webhook = sub.channels.slack
            payload = render_slack(article, sub.name, reasons)
            return await deliver(lambda: slack.send(webhook, payload),
                                 max_attempts=settings.max_attempts,
                                 base_delay=settings.backoff_base, max_delay=settings.backoff_max)
        assert sub.channels.email is not None
        message = render_email(article, sub.name, reasons, settings.smtp_sender, sub.channels.email)
        return await deliver(lambda: email.send(message), max_attempts=settings.max_attempts,
                             base_delay=settings.backoff_base, max_delay=settings.backoff_max)

    async def notify_one(event: faust.EventT[bytes], key: bytes | None, value: bytes) -> None:
        article = ClassifiedArticle.from_bytes(value)
        done: dict[str, str] = orjson.loads(alerted.get(article.story_id) or b"{}")
        for sub in subscriptions:
            result = sub.match(article)
            if not result.matched:
                continue
            channels = [c for c, target in (("slack", sub.channels.slack),
                                            ("email", sub.channels.email)) if target]
            for channel in channels:
                slot = f"{sub.name}/{channel}"
                if slot in done:
                    log.info("already alerted for this story; skipped",
                             extra=fields(subscription=sub.name, channel=channel,
                                          article_id=article.id, story_id=article.story_id))
                    continue
                outcome = await send_one(sub, channel, article, list(result.reasons))
                status = "delivered" if outcome.delivered else "failed"
                record = Alert(
                    subscription_id=sub.name, article_id=article.id, story_id=article.story_id,
                    title=article.title, url=article.url, source=article.source,
                    reasons=list(result.reasons), channel=channel,
                    outcome=status, attempts=outcome.attempts,
                    error=outcome.error, created_at=datetime.now(UTC),
                )
                done[slot] = status
                alerted[article.story_id] = orjson.dumps(done)
                await alerts.send(key=sub.name.encode(), value=record.to_bytes())
                if not outcome.delivered:
                    msg = event.message
                    letter = make_dead_letter(
                        stage=f"notifier.deliver.{channel}", error=outcome.error or "failed",
                        payload=msg.value, key=msg.key, topic=msg.topic,
                        partition=msg.partition, offset=msg.offset)
                    await deadletters.send(key=msg.key, value=letter.to_bytes())
                # The record must be durable before the next delivery: a crash now must
                # not make the restarted replica alert this story again.
                await app.producer.flush()
                log.info("alert " + status,
                         extra=fields(subscription=sub.name, channel=channel,
                                      article_id=article.id, attempts=outcome.attempts,
                                      error=outcome.error))

    @app.agent(source, name="notify_subscribers")
    async def notify_subscribers(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await policy.run(event, "notifier.notify", functools.partial(notify_one, event))

    @app.service
    class HttpClientCloser(faust.Service):
        """Closes the shared HTTP client when the worker stops."""

        async def on_stop(self) -> None:
            await http.aclose()

    return app
