"""Every topic the pipeline uses, public and internal, and their creation.

Source topics are created here with explicit partition counts; faust creates only its own
changelog topics. Internal topics are not part of the public contract.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.topics import PUBLIC_TOPICS
from wirewatch.logs import fields

__all__ = [
    "DEDUP_BANDS",
    "DEDUP_VOTES",
    "FETCHER_STATE",
    "TopicPlan",
    "create_topics",
    "plan",
]

log = logging.getLogger(__name__)

# Internal topics. Their partition counts fix the parallelism of the stage that reads them.
DEDUP_BANDS = "dedup.bands"
DEDUP_VOTES = "dedup.votes"
FETCHER_STATE = "fetcher.state"


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
        TopicPlan(DEDUP_BANDS, 8),
        TopicPlan(DEDUP_VOTES, 4),
        # One record per feed, newest wins: compaction keeps the state forever and small.
        TopicPlan(FETCHER_STATE, 8, {"cleanup.policy": "compact"}),
    ]
    return topics


async def create_topics(bootstrap_servers: str, namespace: str = "") -> list[str]:
    """Create the missing topics; return the names created. Existing ones are checked."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="wirewatch-admin")
    await admin.start()
    try:
        wanted = {f"{namespace}{t.name}": t for t in plan()}
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, t.partitions, 1, topic_configs=dict(t.config))
            for name, t in wanted.items()
            if name not in existing
        ]
        created: list[str] = []
        if missing:
            try:
                await admin.create_topics(missing)
                created = [t.name for t in missing]
            except TopicAlreadyExistsError:
                # Another process created them between our listing and our request.
                created = []
        described = await admin.describe_topics([n for n in wanted if n in existing])
        for info in described:
            name = info["topic"]
            have = len(info["partitions"])
            if have < wanted[name].partitions:
                log.warning(
                    "topic has fewer partitions than planned",
                    extra=fields(topic=name, partitions=have, planned=wanted[name].partitions),
                )
        return created
    except KafkaError as exc:
        raise RuntimeError(f"could not create topics on {bootstrap_servers}: {exc}") from exc
    finally:
        await admin.close()
