"""When to poll a feed again, and what the fetcher remembers of it: no Kafka, no network."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FeedState", "is_modified"]


def is_modified(status: int) -> bool:
    """False for 304 Not Modified: the conditional GET says nothing is new."""
    return status != 304


@dataclass
class FeedState:
    """What the fetcher remembers of a feed, across polls and restarts."""

    etag: str | None = None
    last_modified: str | None = None
    seen: list[str] = field(default_factory=list)
    failures: int = 0
    last_error: str | None = None
    checked_at: float | None = None  # the last poll, seconds since the epoch
    ok_at: float | None = None  # the last poll that worked
    source: str | None = None  # the feed's outlet, for whoever shows the state

    def remember(self, current: Sequence[str], published: Sequence[str], limit: int) -> None:
        """Remember the ids ``published`` now, and forget old ids no longer in the feed.

        Every id the feed still lists is kept whatever ``limit`` says: forgetting one
        would publish it again on the next poll. Of the ids the feed has dropped, the
        newest are kept up to ``limit`` in all, in case the feed lists them again.
        """
        known = set(self.seen)
        self.seen.extend(i for i in published if i not in known)
        if len(self.seen) <= limit:
            return
        listed = set(current)
        spare = max(0, limit - len(listed & set(self.seen)))
        dropped = [i for i in self.seen if i not in listed]
        keep_dropped = set(dropped[len(dropped) - spare:]) if spare else set()
        self.seen = [i for i in self.seen if i in listed or i in keep_dropped]

    def to_json(self) -> dict[str, Any]:
        return {"etag": self.etag, "last_modified": self.last_modified, "seen": self.seen,
                "failures": self.failures, "last_error": self.last_error,
                "checked_at": self.checked_at, "ok_at": self.ok_at, "source": self.source}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeedState:
        return cls(data.get("etag"), data.get("last_modified"), list(data.get("seen", [])),
                   int(data.get("failures", 0)), data.get("last_error"),
                   data.get("checked_at"), data.get("ok_at"), data.get("source"))
