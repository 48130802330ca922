"""Delivery channels: Slack incoming webhooks and SMTP email, and how alerts look in them.

Each channel has one constructor and one ``send`` method, which makes one attempt;
failures raise :class:`DeliveryError`, which says whether trying again may help, and
whose message starts with the channel's name and never contains a webhook URL or a
password. When to try again is the notifier's (``deliveries.decide``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import httpx
from pydantic import SecretStr

from schemas.article_classified import ClassifiedArticle
from wirewatch.http import http_url, is_transient_status, retry_after_seconds

__all__ = [
    "DeliveryError",
    "EmailChannel",
    "SlackChannel",
    "SmtpConfig",
    "cut",
    "render_email",
    "render_slack",
    "slack_escape",
]


class DeliveryError(Exception):
    """A delivery failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


def _topics_line(article: ClassifiedArticle) -> str:
    return ", ".join(f"{t.id} ({t.score:.2f})" for t in article.topics) or "none"


# Slack's documented limits (Block Kit reference): header text 150 characters, a
# section's text 3,000, each field 2,000, a context element's text 3,000.
_HEADER, _SECTION, _FIELD, _CONTEXT, _FALLBACK = 150, 3000, 2000, 3000, 3000
_ELLIPSIS = "…"


def cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut at a word with an ellipsis if longer."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return _ELLIPSIS[:limit]
    head = text[:limit - 1]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).rstrip() + _ELLIPSIS


def slack_escape(text: str) -> str:
    """Text as Slack shows it literally: &, < and > are its control characters (so no
    ``<!channel>``, ``<@U123>`` or ``<url|link>`` can come from an article)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str, limit: int) -> str:
    """Escaped and cut so that the escaped text fits ``limit`` (escaping lengthens it)."""
    budget = limit
    while True:
        escaped = slack_escape(cut(text, budget))
        if len(escaped) <= limit:
            return escaped
        # Shrink in proportion: "&" grows fivefold, so a plain difference can overshoot.
        budget = max(1, min(budget - 1, budget * limit // len(escaped)))


def _slack_link(url: str, label: str, limit: int) -> str:
    link = http_url(url)
    if link is None:
        return _mrkdwn(label, limit)
    # Inside <url|label> the URL ends at "|" or ">": percent-encode them (and "<").
    target = link.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{target}|{_mrkdwn(label, max(1, limit - len(target) - 3))}>"


def render_slack(
    article: ClassifiedArticle, subscription: str, reasons: list[str]
) -> dict[str, object]:
    """A Block Kit message: headline, source, link, topics and why it matched. Every text
    from a feed is escaped and cut to Slack's limits."""
    title = " ".join((article.title or article.body[:300]).split())
    return {
        "text": cut(f"{title} ({article.source})", _FALLBACK),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": cut(title, _HEADER)}},
            {"type": "section",
             "text": {"type": "mrkdwn",
                      "text": "*" + _slack_link(article.url, title, _SECTION - 2) + "*"},
             "fields": [
                 {"type": "mrkdwn", "text": "*Source*\n" + _mrkdwn(article.source, _FIELD - 9)},
                 {"type": "mrkdwn",
                  "text": "*Topics*\n" + _mrkdwn(_topics_line(article), _FIELD - 9)},
             ]},
            {"type": "context", "elements": [
                {"type": "mrkdwn",
                 "text": _mrkdwn(f"Subscription {subscription}: " + "; ".join(reasons),
                                 _CONTEXT)},
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
    excerpt = cut(article.body, 600)
    link = http_url(article.url)
    message.set_content(
        f"{title}\n\nSource: {article.source}\n"
        f"Link: {link or '(not an http(s) link: ' + article.url[:200] + ')'}\n"
        f"Topics: {_topics_line(article)}\nWhy: {why}\n\n{excerpt}\n"
    )
    e = html.escape
    heading = f'<a href="{e(link)}">{e(title)}</a>' if link else e(title)
    message.add_alternative(
        f"<html><body><h2>{heading}</h2>"
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
        except httpx.HTTPError as exc:
            raise DeliveryError(f"slack: request failed ({type(exc).__name__})",
                                retryable=False) from None
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
