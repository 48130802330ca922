"""Which deliveries a story needs, and what to do after each attempt: no Kafka, no network.

A *slot* is one (subscription, channel) of a story: each is delivered at most once. The
notifier keeps, per story, the slots still to deliver (:class:`PendingStory`) in a table,
so retries survive restarts; each slot is attempted on its own, so a channel that fails
or hangs never holds up another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.article_classified import ClassifiedArticle
from services.notifier.index import SubscriptionIndex
from wirewatch.http import backoff_delay

__all__ = ["Decision", "PendingSlot", "PendingStory", "decide", "new_slots", "slot_key"]

Channel = Literal["slack", "email"]
# What the alerted table records per slot once it is settled.
DELIVERED, FAILED = "delivered", "failed"


def slot_key(subscription: str, channel: str) -> str:
    return f"{subscription}/{channel}"


@dataclass
class PendingSlot:
    """One delivery still to make: when, how often tried, since when."""

    subscription: str
    channel: Channel
    reasons: list[str]
    first_at: float
    due_at: float
    attempts: int = 0
    last_error: str | None = None

    @property
    def key(self) -> str:
        return slot_key(self.subscription, self.channel)


@dataclass
class PendingStory:
    """A story's article (as first read) and its slots still to deliver; where the
    article was read, for its dead letter."""

    article: ClassifiedArticle
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    slots: dict[str, PendingSlot] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"article": self.article.model_dump(mode="json"), "topic": self.topic,
                "partition": self.partition, "offset": self.offset,
                "slots": {k: vars(s) for k, s in self.slots.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingStory:
        return cls(ClassifiedArticle.model_validate(data["article"]), data.get("topic"),
                   data.get("partition"), data.get("offset"),
                   {k: PendingSlot(**s) for k, s in data.get("slots", {}).items()})


def new_slots(article: ClassifiedArticle, subscriptions: SubscriptionIndex,
              settled: Mapping[str, str], pending: Iterable[str], now: float, *,
              replay: bool = False) -> tuple[list[PendingSlot], list[str]]:
    """The slots this article opens: every channel of every matching subscription, except
    those delivered already, those still pending, and those that failed for good (unless
    the article is replayed from the dead letters, which gives a failed slot a new try);
    and the keys of the matching slots left out."""
    waiting = set(pending)
    slots: list[PendingSlot] = []
    known: list[str] = []
    for sub, result in subscriptions.match(article):
        for channel, target in (("slack", sub.channels.slack), ("email", sub.channels.email)):
            key = slot_key(sub.name, channel)
            if target is None:
                continue
            status = settled.get(key)
            if key in waiting or status == DELIVERED or (status == FAILED and not replay):
                known.append(key)
                continue
            slots.append(PendingSlot(sub.name, channel,  # type: ignore[arg-type]
                                     list(result.reasons), now, now))
    return slots, known


@dataclass(frozen=True)
class Decision:
    """After an attempt: ``delivered``, ``retry`` at ``due_at``, or ``failed`` for good."""

    outcome: Literal["delivered", "retry", "failed"]
    due_at: float | None = None
    error: str | None = None


def decide(slot: PendingSlot, error: str | None, *, retryable: bool, retry_after: float | None,
           now: float, retry_for: float, backoff_base: float, backoff_max: float) -> Decision:
    """What follows an attempt that succeeded (``error`` None) or failed.

    A transient failure is tried again after an exponential wait with jitter (or the
    server's Retry-After, capped by ``backoff_max``) as long as the slot's first attempt
    is less than ``retry_for`` seconds old; a permanent one fails at once.
    """
    if error is None:
        return Decision("delivered")
    if not retryable:
        return Decision("failed", error=error)
    if retry_after is not None:
        wait = min(retry_after, backoff_max)
    else:
        wait = backoff_delay(slot.attempts, backoff_base, backoff_max)
    if now + wait - slot.first_at > retry_for:
        return Decision("failed", error=f"{error} (still failing after {slot.attempts} "
                                        f"attempts over {now - slot.first_at:.0f} s)")
    return Decision("retry", due_at=now + wait, error=error)
