"""faust's start-up on the real broker: a restarted replica reads its whole backlog.

An app built by ``wirewatch.streaming.make_app`` runs in this process, its group with
nothing committed (a replica that crashed before its first commit), on a topic that
already holds a backlog. With a table whose changelog takes a moment to restore and an
agent that keeps the fetcher waiting, the former workaround (seek again once faust's
recovery is done) skipped a few records of the backlog in every run. The app without a
table goes through faust's other way of starting its streams. Every record must reach
the agent at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import faust
import pytest
from aiokafka.admin import NewTopic

from tests.integration.conftest import publish, until
from wirewatch.kafka import admin
from wirewatch.settings import CommonSettings
from wirewatch.streaming import make_app

pytestmark = pytest.mark.integration

BACKLOG = 400
CHANGELOG = 2000  # table entries to restore before the streams start
PARTITIONS = 4


@pytest.mark.parametrize("with_table", [True, False], ids=["table", "no-table"])
async def test_restarted_app_reads_its_whole_backlog(
        bootstrap: str, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        with_table: bool) -> None:
    monkeypatch.setenv("WIREWATCH_BOOTSTRAP_SERVERS", bootstrap)
    monkeypatch.setenv("WIREWATCH_NAMESPACE", namespace)
    monkeypatch.setenv("WIREWATCH_DATA_DIR", str(tmp_path))
    settings = CommonSettings()
    source, changelog = settings.topic("backlog"), settings.topic("replica-seen-changelog")
    async with admin(bootstrap) as client:
        await client.create_topics([
            NewTopic(source, PARTITIONS, 1),
            NewTopic(changelog, PARTITIONS, 1, topic_configs={"cleanup.policy": "compact"})])
    await publish(bootstrap, source, [(str(i).encode(), str(i).encode())
                                      for i in range(BACKLOG)])
    if with_table:
        # State the crashed replica left behind (the table's keys and values are JSON).
        for partition in range(PARTITIONS):
            await publish(bootstrap, changelog,
                          [(f'"k{i}"'.encode(), b'"v"')
                           for i in range(partition, CHANGELOG, PARTITIONS)],
                          partition=partition)

    # A small buffer per stream: the fetcher waits on a busy agent, as under load.
    app = make_app("replica", settings, stream_buffer_maxsize=8)
    if with_table:
        app.Table("seen", partitions=PARTITIONS, value_type=bytes)
    handled: set[int] = set()

    @app.agent(app.topic(source, value_type=bytes))
    async def handle(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            assert event.message.value is not None
            handled.add(int(event.message.value))
            await asyncio.sleep(0.001)  # a stage takes a moment per record

    starting = asyncio.ensure_future(app.start())
    try:
        # On a timeout the assertion below names the records never handled.
        with contextlib.suppress(AssertionError):
            await until(lambda: len(handled) == BACKLOG, "the whole backlog")
    finally:
        await app.stop()
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await starting
    missing = sorted(set(range(BACKLOG)) - handled)
    assert not missing, f"{len(missing)} of {BACKLOG} records never handled: {missing[:20]}"
