"""Re-injecting dead letters once their cause is fixed: ``wirewatch deadletters replay``.

Each chosen dead letter's original payload is published again, with its original key, to
the topic it was read from, marked with a ``wirewatch-replay`` header. The stage that
gave up reads it again like any message: dedup and the classifier answer a repeated
article as before, and the notifier gives a failed delivery a new try (never a second
alert for a delivered one).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from schemas.base import MessageDecodeError
from schemas.deadletter import DeadLetter
from schemas.topics import DEADLETTERS
from wirewatch.deadletters import REPLAY_HEADER
from wirewatch.kafka import producer, read_topic
from wirewatch.settings import CommonSettings

__all__ = ["Choice", "choose", "decode_payload", "replay_dead_letters"]


def decode_payload(payload: str) -> bytes:
    """The original bytes of a dead letter's ``payload``."""
    if payload.startswith("base64:"):
        return base64.b64decode(payload[len("base64:"):])
    return payload.encode("utf-8")


@dataclass(frozen=True)
class Choice:
    """A dead letter and whether it can be replayed, and if not why."""

    letter: DeadLetter
    problem: str | None = None


def choose(letters: Iterable[DeadLetter], *, stage: str | None = None,
           since: datetime | None = None, namespace: str = "") -> list[Choice]:
    """The dead letters of ``stage`` (a prefix: ``notifier`` takes every notifier stage)
    from ``since`` on, each with the reason it cannot be replayed, if any."""
    chosen = []
    for letter in letters:
        if stage and not (letter.stage == stage or letter.stage.startswith(stage + ".")):
            continue
        if since and letter.occurred_at < since:
            continue
        problem = None
        if letter.truncated:
            problem = "its payload was cut (too large to keep whole)"
        elif not letter.topic:
            problem = "it was not read from a topic (nothing to re-inject into)"
        elif not letter.topic.startswith(namespace):
            problem = f"its topic {letter.topic} is outside namespace {namespace!r}"
        chosen.append(Choice(letter, problem))
    return chosen


async def _read_all(settings: CommonSettings) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    for value in await read_topic(settings.bootstrap_servers,
                                  settings.topic(DEADLETTERS.name), DEADLETTERS.partitions):
        try:
            letters.append(DeadLetter.from_bytes(value))
        except MessageDecodeError:
            continue  # not a dead letter of ours: nothing to replay
    return letters


async def replay_dead_letters(settings: CommonSettings, *, stage: str | None,
                              since: datetime | None, dry_run: bool) -> list[Choice]:
    """Replay the chosen dead letters (all of them unless ``dry_run``); return the choice."""
    chosen = choose(await _read_all(settings), stage=stage, since=since,
                    namespace=settings.namespace)
    if dry_run:
        return chosen
    async with producer(settings.bootstrap_servers) as prod:
        for choice in chosen:
            letter = choice.letter
            if choice.problem is not None or letter.topic is None:
                continue
            key = letter.key.encode() if letter.key is not None else None
            await prod.send_and_wait(letter.topic, decode_payload(letter.payload), key=key,
                                     headers=[(REPLAY_HEADER, b"1")])
    return chosen
