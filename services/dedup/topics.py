"""dedup's internal topic (not part of the public contract)."""

from __future__ import annotations

from wirewatch.topology import TopicPlan

__all__ = ["LOG", "LOG_RETENTION_DAYS", "SERVICE", "internal_topics"]

SERVICE = "dedup"  # the consumer group every replica joins
# dedup rebuilds its index by replaying this topic, so it keeps at least
# DEDUP_RETENTION_DAYS (14 by default) of sightings.
LOG_RETENTION_DAYS = 15
# One partition: its order is the one order in which every article is compared with all
# the earlier ones, whichever replica fingerprinted it (see services.dedup.app).
LOG = TopicPlan("dedup.log", 1, {"retention.ms": str(LOG_RETENTION_DAYS * 86_400_000)})


def internal_topics() -> list[TopicPlan]:
    return [LOG]
