"""Building dead-letter records: what failed, where it came from, the original bytes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from schemas.deadletter import DeadLetter

__all__ = ["MAX_PAYLOAD", "REPLAY_HEADER", "encode_payload", "make_dead_letter"]


# The whole dead letter must stay under Kafka's default 1 MB message size.
MAX_PAYLOAD = 256_000
# Marks a record that `wirewatch deadletters replay` published again.
REPLAY_HEADER = "wirewatch-replay"


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(raw) - 4  # only a character cut at the end
    return True


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
    max_payload: int = MAX_PAYLOAD,
) -> DeadLetter:
    """A :class:`DeadLetter` for a message that ``stage`` gave up on. A payload over
    ``max_payload`` bytes is cut (``truncated``), so that the dead letter itself is never
    too large to send."""
    size = len(payload.encode() if isinstance(payload, str) else payload or b"")
    truncated = size > max_payload
    if truncated:
        raw = payload.encode() if isinstance(payload, str) else payload or b""
        # Cut on a character boundary so that UTF-8 text stays text.
        payload = raw[:max_payload].decode("utf-8", errors="ignore") \
            if _is_utf8(raw[:max_payload + 4]) else raw[:max_payload]
        error = f"{error} (payload of {size:,} bytes cut to its first {max_payload:,})"
    return DeadLetter(
        stage=stage,
        topic=topic,
        partition=partition,
        offset=offset,
        error=error,
        truncated=truncated,
        payload=encode_payload(payload),
        key=encode_payload(key) if key is not None else None,
        occurred_at=datetime.now(UTC),
    )
