"""Building dead-letter records: what failed, where it came from, the original bytes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from schemas.deadletter import DeadLetter

__all__ = ["encode_payload", "make_dead_letter"]


def encode_payload(raw: bytes | str | None) -> str:
    """The original value as text; ``base64:`` when it is not UTF-8, so nothing is lost."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode("ascii")


def make_dead_letter(
    *,
    stage: str,
    error: str,
    payload: bytes | str | None,
    key: bytes | str | None = None,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> DeadLetter:
    """A :class:`DeadLetter` for a message that ``stage`` gave up on."""
    return DeadLetter(
        stage=stage,
        topic=topic,
        partition=partition,
        offset=offset,
        error=error,
        payload=encode_payload(payload),
        key=encode_payload(key) if key is not None else None,
        occurred_at=datetime.now(UTC),
    )
