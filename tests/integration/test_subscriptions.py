"""Subscriptions managed on their topic while two notifier replicas run, on the real broker:
an added one alerts on the next matching article without restart, a muted one is silent
until its mute ends, a deleted one stops, a bad record is dead-lettered once and changes
nothing, and the CLI's import, mute, delete, list and export do what they say."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import yaml

from schemas.article_classified import ClassifiedArticle
from schemas.deadletter import DeadLetter
from services.notifier.subscriptions import load_subscriptions, parse_subscriptions
from tests.integration.conftest import ROOT, collect, publish
from wirewatch.kafka import group_assignment

PARTITIONS = 4


def _cli(bootstrap: str, namespace: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "wirewatch_cli", "subscriptions", *args],
        env={**os.environ, "WIREWATCH_BOOTSTRAP_SERVERS": bootstrap,
             "WIREWATCH_NAMESPACE": namespace},
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _logged(paths: list[Path], text: str, times: int = 1, timeout: float = 60) -> None:
    """Until every replica's log holds ``text`` ``times`` times."""
    for _ in range(int(timeout * 10)):
        if all(p.exists() and p.read_text(errors="replace").count(text) >= times
               for p in paths):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not logged by every replica: {text}")


async def _replicas_share_the_articles(bootstrap: str, group: str, topic: str) -> None:
    for _ in range(600):
        state, owned = await group_assignment(bootstrap, group)
        if state == "Stable" and len(owned) == 2 and all(m.get(topic) for m in owned):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the two notifier replicas never shared the partitions")


async def test_subscriptions_change_live_on_every_replica(
        tmp_path, namespace, bootstrap, servers, make_pipeline):
    _, slack, smtp = servers
    topic = namespace + "articles.classified"
    origin = f"http://127.0.0.1:{slack.port}"
    first = tmp_path / "first.yaml"
    first.write_text(yaml.safe_dump({"subscriptions": [
        {"name": "kyiv", "owner": "desk", "channels": {"slack": "${KYIV_HOOK}"},
         "rules": {"keywords": ["Kyiv"]}},
        {"name": "front", "channels": {"slack": slack.url("front") + "/secret-part"},
         "rules": {"keywords": ["Huliaipole"]}},
    ]}))
    assert "imported 2 subscription(s)" in _cli(bootstrap, namespace, "import", str(first))
    pipeline = make_pipeline({"NOTIFIER_SMTP_PORT": str(smtp.port),
                              "KYIV_HOOK": slack.url("kyiv")}, replicas={"notifier": 2})
    pipeline.start(only=("notifier",))
    logs = [p.log_path for p in pipeline.of("notifier")]
    await _logged(logs, 'msg="subscription added" subscription=kyiv')
    await _replicas_share_the_articles(bootstrap, namespace + "notifier", topic)

    rounds = 0

    async def articles(*bodies: str) -> None:
        """One article of each body on every partition, in this order."""
        nonlocal rounds
        rounds += 1
        items = []
        for n, body in enumerate(bodies):
            for partition in range(PARTITIONS):
                story = f"r{rounds}-{n}-{partition}"
                value = ClassifiedArticle(
                    id=story, url=f"https://e.org/{story}", source="Wire", title=body,
                    body=body, fetched_at=datetime.now(UTC), story_id=story, topics=[],
                    classifier="test").to_bytes()
                items.append((partition, story.encode(), value))
        for partition in range(PARTITIONS):
            await publish(bootstrap, topic, [(k, v) for p, k, v in items if p == partition],
                          partition=partition)

    async def posts(name: str, count: int) -> None:
        for _ in range(600):
            if sum(1 for n, _ in slack.received if n == name) >= count:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{name}: {Counter(n for n, _ in slack.received)}")

    def posted(name: str) -> int:
        return sum(1 for n, _ in slack.received if n == name)

    # ${KYIV_HOOK} was expanded by each replica; each alerts for its own partitions.
    await articles("Air raid alert in Kyiv")
    await posts("kyiv", 4)
    await _logged(logs, 'msg="alert delivered"')

    # Added while the replicas run: the next matching article alerts.
    odesa = tmp_path / "odesa.yaml"
    odesa.write_text(yaml.safe_dump({"subscriptions": [
        {"name": "odesa", "channels": {"slack": slack.url("odesa")},
         "rules": {"keywords": ["Odesa"]}}]}))
    _cli(bootstrap, namespace, "import", str(odesa))
    await _logged(logs, 'msg="subscription added" subscription=odesa')
    await articles("Drones over the port of Odessa")
    await posts("odesa", 4)

    # Muted: silent for the articles read before the mute ends (the Kyiv articles after
    # them on each partition show they were read), alerting again after.
    until = datetime.now(UTC) + timedelta(seconds=15)
    _cli(bootstrap, namespace, "mute", "odesa", "--until", until.isoformat())
    await _logged(logs, 'msg="subscription changed" subscription=odesa')
    await articles("Odesa port shelled again", "Kyiv metro used as shelter")
    await posts("kyiv", 8)
    assert datetime.now(UTC) < until, "the muted round took longer than the mute"
    assert posted("odesa") == 4
    await asyncio.sleep((until - datetime.now(UTC)).total_seconds() + 0.5)
    await articles("Odesa grain terminal reopens")
    await posts("odesa", 8)

    # Deleted: silent from then on.
    _cli(bootstrap, namespace, "delete", "odesa")
    await _logged(logs, 'msg="subscription deleted" subscription=odesa')
    await articles("Odesa under curfew", "Kyiv talks resume")
    await posts("kyiv", 12)
    assert posted("odesa") == 8

    # Bad records: a new subscription without channels and an edit of kyiv with a bad
    # address. Each is dead-lettered once (not by both replicas); kyiv keeps working.
    await publish(bootstrap, namespace + "subscriptions", [
        (b"broken", orjson.dumps({"name": "broken", "rules": {"keywords": ["x"]}})),
        (b"kyiv", orjson.dumps({"name": "kyiv", "channels": {"email": "nobody"},
                                "rules": {"keywords": ["Kyiv"]}}))])
    await _logged(logs, 'msg="subscription record refused; the previous version stays"', 2)
    await articles("Kyiv power cuts")
    await posts("kyiv", 16)
    letters = await collect(bootstrap, namespace + "deadletters", lambda v: len(v) >= 2)
    found = [DeadLetter.from_bytes(v) for _, v in letters]
    assert sorted((d.key, d.stage) for d in found) == [
        ("broken", "notifier.subscriptions"), ("kyiv", "notifier.subscriptions")]
    assert any("not an email address" in d.error for d in found)

    # Repaired by importing the file again and deleting the broken record; the CLI then
    # lists and exports what the notifier holds.
    _cli(bootstrap, namespace, "import", str(first))
    _cli(bootstrap, namespace, "delete", "broken")
    await _logged(logs, 'msg="subscription changed" subscription=kyiv')
    listed = _cli(bootstrap, namespace, "list")
    assert "secret-part" not in listed and f"slack {origin}/…" in listed
    assert "kyiv: any of ['Kyiv'] → slack ${KYIV_HOOK} (owner desk)" in listed
    exported = yaml.safe_load(_cli(bootstrap, namespace, "export"))
    assert parse_subscriptions(exported, "export") == sorted(load_subscriptions(first),
                                                            key=lambda s: s.name)
    assert not pipeline.dead()
