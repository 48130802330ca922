"""The fetcher's internal topic (not part of the public contract)."""

from __future__ import annotations

from wirewatch.topology import TopicPlan

__all__ = ["STATE", "STATE_MAX_BYTES", "internal_topics"]

# A feed's state lists the ids of all the items it still shows: up to a few MB for a
# feed of tens of thousands of items.
STATE_MAX_BYTES = 8 * 1024 * 1024
# One record per feed, newest wins: compaction keeps the state forever and small.
STATE = TopicPlan("fetcher.state", 8, {"cleanup.policy": "compact",
                                       "max.message.bytes": str(STATE_MAX_BYTES)})


def internal_topics() -> list[TopicPlan]:
    return [STATE]
