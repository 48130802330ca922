"""Choosing the dead letters to replay, and getting their original bytes back."""

from __future__ import annotations

from datetime import UTC, datetime

from wirewatch.deadletters import make_dead_letter
from wirewatch_cli.deadletters import choose, decode_payload


def _letter(stage: str, *, topic: str | None = "ns.articles.classified",
            payload: bytes = b'{"id": "a"}', day: int = 6):
    letter = make_dead_letter(stage=stage, error="e", payload=payload, key="a", topic=topic,
                              partition=0, offset=1)
    return letter.model_copy(update={"occurred_at": datetime(2026, 1, day, tzinfo=UTC)})


def test_payloads_come_back_byte_for_byte():
    for raw in (b'{"id": "a"}', b"\xff\xfe binary", "Київ".encode()):
        assert decode_payload(_letter("s", payload=raw).payload) == raw


def test_choose_by_stage_prefix_and_time_and_say_what_cannot_be_replayed():
    letters = [_letter("notifier.deliver.slack"), _letter("notifier.deliver.email", day=2),
               _letter("notifierx.other"), _letter("dedup.fingerprint"),
               _letter("fetcher.publish", topic=None),
               _letter("notifier.deliver.slack", payload=b"x" * 300_000),
               _letter("notifier.deliver.slack", topic="other.articles.classified")]
    chosen = choose(letters, stage="notifier", since=datetime(2026, 1, 5, tzinfo=UTC),
                    namespace="ns.")
    assert [(c.letter.stage, c.problem) for c in chosen] == [
        ("notifier.deliver.slack", None),
        ("notifier.deliver.slack", "its payload was cut (too large to keep whole)"),
        ("notifier.deliver.slack",
         "its topic other.articles.classified is outside namespace 'ns.'"),
    ]
    assert [c.problem for c in choose(letters, stage="fetcher.publish")] == [
        "it was not read from a topic (nothing to re-inject into)"]
    assert len(choose(letters)) == len(letters)
