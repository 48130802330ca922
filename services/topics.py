"""Every topic of the pipeline: the public ones and each service's internal ones."""

from __future__ import annotations

from services.dedup.topics import internal_topics as dedup_topics
from services.fetcher.topics import internal_topics as fetcher_topics
from services.notifier.topics import internal_topics as notifier_topics
from wirewatch.topology import TopicPlan, public_topics

__all__ = ["plan"]


def plan() -> list[TopicPlan]:
    """All topics to create, with their partitions and configs."""
    return [*public_topics(), *fetcher_topics(), *dedup_topics(), *notifier_topics()]
