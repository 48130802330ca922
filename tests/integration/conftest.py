"""Integration tier: a real Kafka broker on 127.0.0.1, real HTTP and SMTP servers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from devrig.localrig import FeedServer, Pipeline, SlackReceiver, SmtpSink
from schemas.topics import SUBSCRIPTIONS
from services.notifier.subscriptions import load_subscriptions, parse_subscriptions
from services.topics import plan
from wirewatch.kafka import consume, producer
from wirewatch.topology import create_topics, delete_topics
from wirewatch_cli.subscriptions import publish as publish_subscriptions

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = os.environ.get("WIREWATCH_BOOTSTRAP_SERVERS", "127.0.0.1:9092")

pytestmark = pytest.mark.integration


def _broker_up() -> bool:
    host, port = BOOTSTRAP.split(",")[0].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def bootstrap() -> str:
    if not _broker_up():
        subprocess.run([str(ROOT / "scripts" / "kafka.sh"), "start"], check=True)
    return BOOTSTRAP


@pytest.fixture
async def namespace(bootstrap: str) -> AsyncIterator[str]:
    ns = f"t{uuid.uuid4().hex[:10]}."
    await create_topics(bootstrap, plan(), ns)
    yield ns
    # Tests leave nothing on the broker: thousands of stale partitions slow it down.
    await delete_topics(bootstrap, ns)


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FeedServer, SlackReceiver, SmtpSink]]:
    feeds, slack, smtp = FeedServer(), SlackReceiver(), SmtpSink()
    await feeds.start()
    await slack.start()
    smtp.start()
    yield feeds, slack, smtp
    await feeds.stop()
    await slack.stop()
    smtp.stop()


@pytest.fixture
async def make_pipeline(bootstrap: str, namespace: str, tmp_path: Path
                        ) -> AsyncIterator[Callable[..., Pipeline]]:
    made: list[Pipeline] = []

    def make(env: dict[str, str] | None = None, replicas: dict[str, int] | None = None) -> Pipeline:
        base = {
            "WIREWATCH_BOOTSTRAP_SERVERS": bootstrap,
            "WIREWATCH_NAMESPACE": namespace,
            "WIREWATCH_DATA_DIR": str(tmp_path / "data"),
            "WIREWATCH_LOG_LEVEL": "INFO",
            # The test feeds are served on 127.0.0.1.
            "FETCHER_ALLOW_PRIVATE_NETWORKS": "true",
            "NOTIFIER_BACKOFF_BASE": "0.05",
            "NOTIFIER_BACKOFF_MAX": "0.5",
        }
        pipeline = Pipeline({**base, **(env or {})}, tmp_path / "logs", replicas or {})
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        await pipeline.stop()
    for log in sorted((tmp_path / "logs").glob("*.log")):
        text = log.read_text(errors="replace")
        if "level=error" in text or "Traceback" in text:
            print(f"--- {log.name} ---\n{text[-4000:]}")


async def collect(bootstrap: str, topic: str, until: Callable[[list[bytes]], bool],
                  timeout: float = 90.0) -> list[tuple[bytes | None, bytes]]:
    """Read ``topic`` from the start until ``until(values)`` holds or time runs out."""
    records: list[tuple[bytes | None, bytes]] = []

    async def read() -> None:
        async for record in consume(bootstrap, [topic]):
            records.append((record.key, record.value or b""))
            if until([v for _, v in records]):
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), timeout)
    return records


async def until(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Wait until ``condition()`` holds; fail naming ``what`` after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.1)


async def publish(bootstrap: str, topic: str, items: list[tuple[bytes, bytes]],
                  partition: int | None = None) -> None:
    async with producer(bootstrap) as prod:
        for key, value in items:
            await prod.send_and_wait(topic, value, key=key, partition=partition)


async def subscribe(bootstrap: str, namespace: str, source: Path | list[dict[str, object]]
                    ) -> None:
    """Write subscriptions (a YAML file, or its entries) to the namespace's topic, as
    `wirewatch subscriptions import` does."""
    subs = (load_subscriptions(source) if isinstance(source, Path)
            else parse_subscriptions({"subscriptions": source}, "test"))
    await publish_subscriptions(bootstrap, namespace + SUBSCRIPTIONS.name, subs)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    # Each phase's report on the test item, so that a fixture can tell whether the test
    # failed (the browser fixture then saves a screenshot).
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)
