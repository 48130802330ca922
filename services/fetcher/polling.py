"""When to poll a feed again: small named predicates over HTTP responses and state."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "FeedState",
    "backoff_delay",
    "is_modified",
    "is_rate_limited",
    "retry_after_seconds",
]


def is_modified(status: int) -> bool:
    """False for 304 Not Modified: the conditional GET says nothing is new."""
    return status != 304


def is_rate_limited(status: int) -> bool:
    """The server asks us to slow down."""
    return status in (429, 503)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(failures: int, interval: float, maximum: float) -> float:
    """Exponential backoff after ``failures`` consecutive errors, with ±20 % jitter."""
    delay = min(maximum, interval * (2 ** max(0, failures - 1)))
    return float(delay * random.uniform(0.8, 1.2))


@dataclass
class FeedState:
    """What the fetcher remembers of a feed, across polls and restarts."""

    etag: str | None = None
    last_modified: str | None = None
    seen: list[str] = field(default_factory=list)
    failures: int = 0
    last_error: str | None = None

    def remember(self, ids: list[str], limit: int) -> None:
        known = set(self.seen)
        self.seen.extend(i for i in ids if i not in known)
        # The feed only shows its newest items; remembering a few thousand ids is enough.
        del self.seen[:-limit]

    def to_json(self) -> dict[str, Any]:
        return {"etag": self.etag, "last_modified": self.last_modified, "seen": self.seen,
                "failures": self.failures, "last_error": self.last_error}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeedState:
        return cls(data.get("etag"), data.get("last_modified"), list(data.get("seen", [])),
                   int(data.get("failures", 0)), data.get("last_error"))
