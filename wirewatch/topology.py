"""Every topic the pipeline uses, public and internal, and their creation.

Source topics are created here with explicit partition counts; faust creates only its own
changelog topics. Internal topics are not part of the public contract.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.topics import ARTICLES_CLASSIFIED, PUBLIC_TOPICS
from wirewatch.kafka import admin
from wirewatch.logs import fields

__all__ = [
    "DEDUP_BANDS",
    "DEDUP_VOTES",
    "FETCHER_STATE",
    "TopicPlan",
    "create_topics",
    "delete_topics",
    "plan",
]

log = logging.getLogger(__name__)

# Internal topics. Their partition counts fix the parallelism of the stage that reads them.
DEDUP_BANDS = "dedup.bands"
DEDUP_VOTES = "dedup.votes"
FETCHER_STATE = "fetcher.state"
BANDS_RETENTION_DAYS = 15


@dataclass(frozen=True)
class TopicPlan:
    """A topic to create: name (without namespace), partitions and topic-level configs."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


def plan() -> list[TopicPlan]:
    """All topics of the pipeline."""
    topics = [TopicPlan(spec.name, spec.partitions) for spec in PUBLIC_TOPICS]
    topics += [
        # dedup rebuilds its band index by replaying this topic, so it keeps at least
        # DEDUP_RETENTION_DAYS (14 by default) of registrations.
        TopicPlan(DEDUP_BANDS, 8, {"retention.ms": str(BANDS_RETENTION_DAYS * 86_400_000)}),
        TopicPlan(DEDUP_VOTES, 4),
        # One record per feed, newest wins: compaction keeps the state forever and small.
        TopicPlan(FETCHER_STATE, 8, {"cleanup.policy": "compact"}),
    ]
    # The changelogs of the faust tables, named as faust names them ("<app>-<table>-
    # changelog"). faust would create them itself when a worker starts, but a broker can
    # take seconds to publish a new topic's metadata, and a table written meanwhile fails;
    # created here, they exist before any service runs. Each one is partitioned like the
    # stream that writes its table.
    compact = {"cleanup.policy": "compact"}
    topics += [
        TopicPlan("dedup-pending-changelog", 4, compact),
        TopicPlan("dedup-verdicts-changelog", 4, compact),
        TopicPlan("notifier-alerted-changelog", ARTICLES_CLASSIFIED.partitions, compact),
    ]
    return topics


async def _wait_for_leaders(client: AIOKafkaAdminClient, names: list[str],
                            timeout: float = 30.0) -> None:
    """Until every partition of the new topics has a leader, so that clients starting
    right after creation do not meet NotLeaderForPartition errors."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        described = await client.describe_topics(names)
        if all(info["error_code"] == 0 and info["partitions"]
               and all(p["leader"] >= 0 for p in info["partitions"]) for info in described):
            return
        await asyncio.sleep(0.2)
    log.warning("new topics still without leaders", extra=fields(topics=",".join(names)))


async def create_topics(bootstrap_servers: str, namespace: str = "") -> list[str]:
    """Create the missing topics; return the names created. Existing ones are checked."""
    try:
        async with admin(bootstrap_servers) as client:
            wanted = {f"{namespace}{t.name}": t for t in plan()}
            existing = set(await client.list_topics())
            missing = [
                NewTopic(name, t.partitions, 1, topic_configs=dict(t.config))
                for name, t in wanted.items()
                if name not in existing
            ]
            created: list[str] = []
            if missing:
                try:
                    await client.create_topics(missing)
                    created = [t.name for t in missing]
                except TopicAlreadyExistsError:
                    # Another process created them between our listing and our request.
                    created = []
            if created:
                await _wait_for_leaders(client, created)
            described = await client.describe_topics([n for n in wanted if n in existing])
    except KafkaError as exc:
        raise RuntimeError(f"could not create topics on {bootstrap_servers}: {exc}") from exc
    for info in described:
        name = info["topic"]
        have = len(info["partitions"])
        if have < wanted[name].partitions:
            log.warning(
                "topic has fewer partitions than planned",
                extra=fields(topic=name, partitions=have, planned=wanted[name].partitions),
            )
    return created


async def delete_topics(bootstrap_servers: str, namespace: str) -> list[str]:
    """Delete every topic of a namespace (a demo's, a test's), faust's internal ones too."""
    if not namespace:
        raise ValueError("refusing to delete the topics of the default namespace")
    async with admin(bootstrap_servers) as client:
        doomed = [t for t in await client.list_topics() if t.startswith(namespace)]
        if doomed:
            await client.delete_topics(doomed)
    return doomed
