"""HTTP rules shared by the services that call other servers (fetcher, notifier)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["backoff_delay", "http_url", "is_transient_status", "retry_after_seconds"]


def http_url(url: str | None) -> str | None:
    """The URL (stripped) if it is an http or https link, else None: ``javascript:``,
    ``data:``, ``ftp:`` and scheme-relative links are not followed or shown."""
    stripped = (url or "").strip()
    return stripped if stripped.lower().startswith(("http://", "https://")) else None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, in either of its forms (RFC 9110 §10.2.3):
    delta-seconds (``120``) or an HTTP date. None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def is_transient_status(status: int) -> bool:
    """A status worth asking again later: the server is busy, limiting or failing."""
    return status == 429 or status == 408 or status >= 500


def backoff_delay(failures: int, base: float, maximum: float) -> float:
    """Exponential backoff after ``failures`` consecutive errors, with ±20 % jitter so that
    many clients that failed together do not come back together."""
    delay = min(maximum, base * (2 ** max(0, failures - 1)))
    return float(delay * random.uniform(0.8, 1.2))
