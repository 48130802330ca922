"""Delivery channels: Slack incoming webhooks and SMTP email, with a shared retry policy.

Each channel has one constructor and one ``send`` method; failures raise
:class:`DeliveryError` whose message starts with the channel's name and never contains a
webhook URL or a password.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import httpx
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from schemas.article_classified import ClassifiedArticle
from wirewatch.http import is_transient_status, retry_after_seconds

__all__ = [
    "DeliveryError",
    "DeliveryResult",
    "EmailChannel",
    "SlackChannel",
    "SmtpConfig",
    "deliver",
    "render_email",
    "render_slack",
]


class DeliveryError(Exception):
    """A delivery failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


def _topics_line(article: ClassifiedArticle) -> str:
    return ", ".join(f"{t.id} ({t.score:.2f})" for t in article.topics) or "none"


def render_slack(
    article: ClassifiedArticle, subscription: str, reasons: list[str]
) -> dict[str, object]:
    """A Block Kit message: headline, source, link, topics and why it matched."""
    title = article.title or article.body[:120]
    # mrkdwn treats &, < and > specially; escaping keeps a headline from breaking the link.
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {
        "text": f"{title} ({article.source})",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text",
                                              "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn",
                                         "text": f"*<{article.url}|{safe_title}>*"},
             "fields": [
                 {"type": "mrkdwn", "text": f"*Source*\n{article.source}"},
                 {"type": "mrkdwn", "text": f"*Topics*\n{_topics_line(article)}"},
             ]},
            {"type": "context", "elements": [
                {"type": "mrkdwn",
                 "text": f"Subscription *{subscription}*: " + "; ".join(reasons)},
            ]},
        ],
    }


def render_email(
    article: ClassifiedArticle, subscription: str, reasons: list[str], sender: str, to: str
) -> EmailMessage:
    """Plain-text and HTML parts (HTML-escaped), the headline as subject."""
    title = article.title or article.body[:120]
    message = EmailMessage()
    # A header may not span lines: headlines scraped from HTML sometimes do.
    message["Subject"] = " ".join(title.split())[:250]
    message["From"] = sender
    message["To"] = to
    message["Message-ID"] = make_msgid(idstring=f"{subscription}.{article.story_id}"[:60],
                                       domain="wirewatch.local")
    message["X-Wirewatch-Subscription"] = subscription
    message["X-Wirewatch-Story"] = article.story_id
    why = "; ".join(reasons)
    excerpt = article.body[:600]
    message.set_content(
        f"{title}\n\nSource: {article.source}\nLink: {article.url}\n"
        f"Topics: {_topics_line(article)}\nWhy: {why}\n\n{excerpt}\n"
    )
    e = html.escape
    message.add_alternative(
        f"<html><body><h2><a href=\"{e(article.url)}\">{e(title)}</a></h2>"
        f"<p><b>Source:</b> {e(article.source)}<br><b>Topics:</b> {e(_topics_line(article))}"
        f"<br><b>Why:</b> {e(why)}</p><p>{e(excerpt)}</p></body></html>",
        subtype="html",
    )
    return message


class SlackChannel:
    """Posts Block Kit messages to incoming webhooks."""

    name = "slack"

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, webhook: SecretStr, payload: dict[str, object]) -> None:
        try:
            response = await self._client.post(webhook.get_secret_value(), json=payload)
        except httpx.TimeoutException as exc:
            raise DeliveryError(
                f"slack: timed out ({type(exc).__name__})", retryable=True) from None
        except httpx.TransportError as exc:
            raise DeliveryError(f"slack: connection failed ({type(exc).__name__})",
                                retryable=True) from None
        if response.status_code == 200:
            return
        detail = response.text[:200].strip()
        if is_transient_status(response.status_code):
            raise DeliveryError(
                f"slack: HTTP {response.status_code} {detail}", retryable=True,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        raise DeliveryError(f"slack: HTTP {response.status_code} {detail}", retryable=False)


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send email."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    timeout: float = 10.0


class EmailChannel:
    """Sends messages through an SMTP server."""

    name = "email"

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    async def send(self, message: EmailMessage) -> None:
        c = self.config
        try:
            await aiosmtplib.send(
                message,
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=c.password.get_secret_value() if c.password else None,
                start_tls=c.starttls,
                timeout=c.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"email: recipient refused: {exc.recipients[0]}",
                                retryable=False) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"email: SMTP {exc.code} {exc.message}",
                                retryable=exc.code >= 400 and exc.code < 500) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"email: {type(exc).__name__}: {exc}", retryable=True) from None


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of a delivery with retries."""

    delivered: bool
    attempts: int
    error: str | None = None


async def deliver(
    send: Callable[[], Awaitable[None]],
    *,
    max_attempts: int,
    base_delay: float,
    max_delay: float,
) -> DeliveryResult:
    """Call ``send`` until it succeeds, a non-retryable error, or ``max_attempts``.

    Waits grow exponentially with jitter; a server's Retry-After is honoured (capped by
    ``max_delay``).
    """
    backoff = wait_exponential_jitter(initial=base_delay, max=max_delay, jitter=base_delay)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, DeliveryError) and exc.retry_after is not None:
            return min(exc.retry_after, max_delay)
        return float(backoff(state))

    attempts = 0
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(max_attempts),
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, DeliveryError) and e.retryable),
            reraise=True,
        ):
            with attempt:
                attempts += 1
                await send()
    except DeliveryError as exc:
        return DeliveryResult(False, attempts, str(exc))
    return DeliveryResult(True, attempts)
