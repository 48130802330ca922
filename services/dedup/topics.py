"""dedup's internal topics (not part of the public contract) and its tables."""

from __future__ import annotations

from wirewatch.topology import TopicPlan, changelog

__all__ = ["BANDS", "BANDS_RETENTION_DAYS", "SERVICE", "TABLES", "VOTES", "internal_topics"]

SERVICE = "dedup"  # the faust app id, which names the changelogs
# dedup rebuilds its band index by replaying this topic, so it keeps at least
# DEDUP_RETENTION_DAYS (14 by default) of registrations.
BANDS_RETENTION_DAYS = 15
# The partition counts fix the parallelism of the stage that reads each topic.
BANDS = TopicPlan("dedup.bands", 8, {"retention.ms": str(BANDS_RETENTION_DAYS * 86_400_000)})
VOTES = TopicPlan("dedup.votes", 4)
# Keyed by article or story id and partitioned like dedup.votes, which writes them.
TABLES = ("pending", "verdicts", "trails")


def internal_topics() -> list[TopicPlan]:
    return [BANDS, VOTES, *(changelog(SERVICE, table, VOTES.partitions) for table in TABLES)]
