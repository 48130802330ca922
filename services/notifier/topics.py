"""The notifier's tables, whose changelogs are its internal topics."""

from __future__ import annotations

from schemas.topics import ARTICLES_CLASSIFIED
from wirewatch.topology import TopicPlan, changelog

__all__ = ["SERVICE", "TABLES", "TABLE_PARTITIONS", "internal_topics"]

SERVICE = "notifier"  # the faust app id, which names the changelogs
# Keyed by article and partitioned like articles.classified, which writes them.
TABLES = ("alerted", "pending")
TABLE_PARTITIONS = ARTICLES_CLASSIFIED.partitions


def internal_topics() -> list[TopicPlan]:
    return [changelog(SERVICE, table, TABLE_PARTITIONS) for table in TABLES]
