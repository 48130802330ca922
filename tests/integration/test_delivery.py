"""The notifier against a Slack receiver that hangs, fails and recovers, on the real broker:
no channel holds up another, retries survive a restart, permanent failures are
dead-lettered and can be replayed, and every slot is alerted once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime

from schemas.alert import Alert
from schemas.article_classified import ClassifiedArticle
from schemas.deadletter import DeadLetter
from tests.integration.conftest import ROOT, collect, publish, subscribe


def _article(n: int, body: str) -> bytes:
    return ClassifiedArticle(
        id=f"story-{n}", url=f"https://e.org/{n}", source="Wire", title=f"Story {n}",
        body=body, fetched_at=datetime.now(UTC), story_id=f"story-{n}", topics=[],
        classifier="test").to_bytes()


def _alerts(values: list[bytes]) -> list[Alert]:
    return [Alert.from_bytes(v) for v in values]


async def test_failing_channels_retry_durably_and_hold_up_nobody(tmp_path, namespace, bootstrap,
                                                                 servers, make_pipeline):
    _, slack, smtp = servers
    await subscribe(bootstrap, namespace, [
        {"name": "hangs", "channels": {"slack": slack.url("hangs")},
         "rules": {"keywords": ["Odesa"]}},
        {"name": "prompt", "channels": {"slack": slack.url("prompt"), "email": "p@example.org"},
         "rules": {"keywords": ["Odesa"]}},
        {"name": "flaky", "channels": {"slack": slack.url("flaky")},
         "rules": {"keywords": ["Kherson"]}},
        {"name": "gone", "channels": {"slack": slack.url("gone")},
         "rules": {"keywords": ["Sumy"]}},
    ])
    slack.slow("hangs", 30)  # past the 2 s deadline of an attempt: it times out
    slack.fail("flaky", 500, times=1000)  # down until told otherwise
    slack.fail("gone", 404, times=1)  # a permanent error, once
    env = {"NOTIFIER_SMTP_PORT": str(smtp.port),
           "NOTIFIER_HTTP_TIMEOUT": "2", "NOTIFIER_BACKOFF_BASE": "0.2",
           "NOTIFIER_BACKOFF_MAX": "0.5", "NOTIFIER_DISPATCH_INTERVAL": "0.1",
           # The killed replica's partitions move to the new one after this.
           "WIREWATCH_SESSION_TIMEOUT": "6"}
    pipeline = make_pipeline(env)
    pipeline.start(only=("notifier",))
    topic = namespace + "articles.classified"
    await publish(bootstrap, topic, [(b"story-1", _article(1, "Drones hit the port of Odesa."))])

    # The prompt subscription's Slack and email arrive while the other webhook hangs.
    alerts = await collect(bootstrap, namespace + "alerts", lambda v: len(v) >= 2, timeout=60)
    early = _alerts([v for _, v in alerts])
    assert {(a.subscription_id, a.channel, a.outcome) for a in early} == {
        ("prompt", "slack", "delivered"), ("prompt", "email", "delivered")}
    assert not any(name == "hangs" for name, _ in slack.received)

    # Kherson: the webhook fails; the notifier is killed and restarted meanwhile; the
    # retry survives the restart and is delivered once the webhook recovers.
    await publish(bootstrap, topic, [(b"story-2", _article(2, "Shelling in Kherson."))])
    for _ in range(600):
        if sum(1 for name, _ in slack.attempts if name == "flaky") >= 3:
            break
        await asyncio.sleep(0.1)
    assert sum(1 for name, _ in slack.attempts if name == "flaky") >= 3
    (notifier,) = pipeline.of("notifier")
    notifier.kill()
    slack.failures["flaky"].clear()
    pipeline.start(only=("notifier",))

    # Sumy: a 404 is permanent: recorded as failed and dead-lettered at once.
    await publish(bootstrap, topic, [(b"story-3", _article(3, "Strike on Sumy."))])
    alerts = await collect(bootstrap, namespace + "alerts",
                           lambda v: {(a.subscription_id, a.outcome) for a in _alerts(v)} >= {
                               ("hangs", "delivered"), ("flaky", "delivered"),
                               ("gone", "failed")}, timeout=90)
    settled = _alerts([v for _, v in alerts])
    flaky = [a for a in settled if a.subscription_id == "flaky"]
    # Its attempts before the kill were counted on: the retry was carried over, not begun anew.
    assert len(flaky) == 1 and flaky[0].attempts >= 3
    assert [a.outcome for a in settled if a.subscription_id == "hangs"] == ["delivered"]
    letters = await collect(bootstrap, namespace + "deadletters", lambda v: len(v) >= 1)
    (letter,) = [DeadLetter.from_bytes(v) for _, v in letters]
    assert letter.stage == "notifier.deliver.slack" and "HTTP 404" in letter.error
    assert letter.topic == topic and letter.key == "story-3"

    # The cause is fixed (the 404 was once): replaying the dead letter delivers it.
    replay = subprocess.run(
        [sys.executable, "-m", "wirewatch_cli", "deadletters", "replay", "--stage", "notifier"],
        env={**os.environ, "WIREWATCH_BOOTSTRAP_SERVERS": bootstrap,
             "WIREWATCH_NAMESPACE": namespace},
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0, replay.stderr
    assert "1 of 1 dead letter(s) replayed" in replay.stdout
    alerts = await collect(bootstrap, namespace + "alerts",
                           lambda v: ("gone", "delivered") in {
                               (a.subscription_id, a.outcome) for a in _alerts(v)}, timeout=60)

    # Every slot alerted once: publishing story 1 again changes nothing.
    await publish(bootstrap, topic, [(b"story-1", _article(1, "Drones hit the port of Odesa."))])
    await asyncio.sleep(3)  # several dispatch rounds
    posted = Counter(name for name, _ in slack.received)
    assert posted == Counter({"prompt": 1, "hangs": 1, "flaky": 1, "gone": 1})
    assert len(smtp.messages) == 1
    assert pipeline.of("notifier")[-1].alive  # the replica started after the kill
