"""The stream services' error policy, in memory: what is retried, what is dead-lettered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
)

from schemas.base import MessageDecodeError
from schemas.deadletter import DeadLetter
from wirewatch.streaming import ErrorPolicy, ProcessingError


@dataclass
class _Message:
    key: bytes | None = b"k1"
    value: bytes | None = b'{"id": "a1"}'
    topic: str = "articles.raw"
    partition: int = 2
    offset: int = 41


class _DeadLetters:
    """Stands in for the dead-letter topic; its first ``failures`` sends fail."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[DeadLetter] = []

    async def send(self, *, key: bytes | None, value: bytes) -> Any:
        if self.failures:
            self.failures -= 1
            raise KafkaTimeoutError("no broker")
        self.sent.append(DeadLetter.from_bytes(value))

        async def delivered() -> None:
            return None

        return delivered()


def _policy(tmp_path, dead: _DeadLetters) -> ErrorPolicy:
    async def stop() -> None:
        return None

    return ErrorPolicy(dead, stop, first_retry=0.001, max_retry=0.004)


def _failing(*errors: BaseException) -> tuple[list[int], Any]:
    calls: list[int] = []

    async def handler(key: bytes | None, value: bytes) -> None:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]

    return calls, handler


@pytest.mark.parametrize("error", [KafkaConnectionError("down"), KafkaTimeoutError(),
                                   NotLeaderForPartitionError(), ConnectionResetError(),
                                   TimeoutError()])
async def test_infrastructure_errors_are_retried_never_dead_lettered(tmp_path, error):
    dead = _DeadLetters()
    calls, handler = _failing(error, error, error)
    await _policy(tmp_path, dead).run(_Message(), "dedup.fingerprint", handler)
    assert len(calls) == 4 and dead.sent == []


@pytest.mark.parametrize(("error", "reason"), [
    (MessageDecodeError("articles.raw: id: Field required"), "id: Field required"),
    (ProcessingError("cannot do that"), "cannot do that"),
    (MessageSizeTooLargeError(), "too large to forward"),
    (ValueError("a bug"), "unexpected ValueError: a bug"),
])
async def test_a_message_that_is_the_problem_is_dead_lettered_once(tmp_path, error, reason):
    dead = _DeadLetters()
    calls, handler = _failing(error)
    await _policy(tmp_path, dead).run(_Message(), "dedup.fingerprint", handler)
    assert len(calls) == 1
    (letter,) = dead.sent
    assert reason in letter.error and letter.stage == "dedup.fingerprint"
    assert (letter.topic, letter.partition, letter.offset, letter.key) == (
        "articles.raw", 2, 41, "k1")


async def test_a_failing_dead_letter_send_is_retried_not_a_crash(tmp_path):
    dead = _DeadLetters(failures=3)
    _, handler = _failing(ProcessingError("refused"))
    await _policy(tmp_path, dead).run(_Message(), "s", handler)
    assert len(dead.sent) == 1 and dead.failures == 0


async def test_a_payload_too_large_is_cut_in_its_dead_letter(tmp_path):
    dead = _DeadLetters()
    _, handler = _failing(ProcessingError("too big"))
    event = _Message(value=b"x" * 900_000)
    await _policy(tmp_path, dead).run(event, "s", handler)
    (letter,) = dead.sent
    assert letter.truncated and len(letter.payload) == 256_000 and "900,000 bytes" in letter.error

