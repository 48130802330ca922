"""Topics and their creation: the public topics here, each service's internal ones in
that service (``services/<name>/topics.py``), all of them listed by ``services.topics``.

Source topics are created with explicit partition counts; faust would create only its own
changelog topics, and late (see :func:`changelog`). Internal topics are not part of the
public contract.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.offset import OffsetRequest

from schemas.topics import PUBLIC_TOPICS, STORIES, SUBSCRIPTIONS
from wirewatch.kafka import admin
from wirewatch.logs import fields

__all__ = ["TopicPlan", "changelog", "create_topics", "delete_topics", "public_topics"]

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class TopicPlan:
    """A topic to create: name (without namespace), partitions and topic-level configs."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


def public_topics() -> list[TopicPlan]:
    """The topics of the public contract (``schemas.topics``)."""
    # Tables: the latest record per story or subscription is what counts.
    compacted = {STORIES.name, SUBSCRIPTIONS.name}
    return [TopicPlan(spec.name, spec.partitions,
                      {"cleanup.policy": "compact"} if spec.name in compacted else {})
            for spec in PUBLIC_TOPICS]


def changelog(app_id: str, table: str, partitions: int) -> TopicPlan:
    """The changelog topic of a faust table, named as faust names it.

    faust would create it when a worker starts, but a broker can take seconds to publish
    a new topic's metadata and a table written meanwhile fails; created in advance, it
    exists before any service runs. It is partitioned like the stream that writes its
    table.
    """
    return TopicPlan(f"{app_id}-{table}-changelog", partitions, {"cleanup.policy": "compact"})


async def _wait_until_served(client: AIOKafkaAdminClient, names: list[str],
                             timeout: float = 30.0) -> bool:
    """Until every partition of ``names`` has a leader that answers a ListOffsets request.

    With KRaft a new partition's leader shows in the metadata a moment before that broker
    serves it; a client starting in between logs NotLeaderForPartition errors, which only
    look alarming. So the leaders are asked directly, quietly, until they all answer.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            if await _all_served(client, names):
                return True
        except KafkaError:
            pass  # a broker still electing leaders: ask again
        await asyncio.sleep(0.2)
    log.warning("topics not yet served by their leaders", extra=fields(topics=",".join(names)))
    return False


async def _all_served(client: AIOKafkaAdminClient, names: list[str]) -> bool:
    by_leader: dict[int, dict[str, list[int]]] = {}
    for info in await client.describe_topics(names):
        if info["error_code"] != 0 or not info["partitions"]:
            return False
        for partition in info["partitions"]:
            if partition["leader"] < 0:
                return False
            by_leader.setdefault(partition["leader"], {}).setdefault(
                info["topic"], []).append(partition["partition"])
    for leader, topics in by_leader.items():
        request = OffsetRequest[1](-1, [(topic, [(p, -1) for p in partitions])
                                        for topic, partitions in topics.items()])
        # The admin client has no public call for one broker; this is the one it uses.
        response = await client._send_request_to_node(leader, request)
        if any(error for _, partitions in response.topics for _, error, *_ in partitions):
            return False
    return True


async def _wait_for_group_coordinator(client: AIOKafkaAdminClient,
                                      timeout: float = 30.0) -> None:
    """Until consumer groups can be joined: on a new broker the first group lookup creates
    ``__consumer_offsets``, and services joining before it is served log
    GroupCoordinatorNotAvailable errors."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            await client.find_coordinator("wirewatch-start")
            break
        except KafkaError:
            await asyncio.sleep(0.2)
    else:
        log.warning("the broker has no group coordinator yet")
        return
    await _wait_until_served(client, ["__consumer_offsets"], deadline - loop.time())


async def create_topics(bootstrap_servers: str, plans: Sequence[TopicPlan],
                        namespace: str = "") -> list[str]:
    """Create the missing topics of ``plans``; return the names created. Existing ones are
    checked."""
    try:
        async with admin(bootstrap_servers) as client:
            wanted = {f"{namespace}{t.name}": t for t in plans}
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
                await _wait_until_served(client, created)
            await _wait_for_group_coordinator(client)
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
