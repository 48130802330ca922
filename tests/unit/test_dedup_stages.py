"""dedup's three stages in memory, without a broker: the middle tier of tests.

An in-memory bus stands in for the topics' partitions; each partition is read by one
consumer in batches, and which partition goes next is drawn at random, so the same
input is run in many interleavings and batch sizes.
"""

from __future__ import annotations

import random
from collections import deque

from devrig.synthetic import stream
from schemas.article_duplicate import DuplicateArticle
from schemas.article_unique import UniqueArticle
from schemas.story import Story
from services.dedup.protocol import VoteArticle, VoteArticles, partition_for
from services.dedup.settings import Settings
from services.dedup.stages import DecideBatch, DecideStage, FingerprintStage, IndexStage, Topics

TOPICS = Topics(bands="bands", votes="votes", unique="unique", duplicates="duplicates",
                stories="stories")
PARTITIONS = {"raw": 4, "bands": 8, "votes": 4, "unique": 4, "duplicates": 4, "stories": 4}


class Bus:
    """Topic partitions as queues; keyed messages go where Kafka's partitioner sends them."""

    def __init__(self) -> None:
        self.queues: dict[tuple[str, int], deque[bytes]] = {}

    async def send(self, topic: str, value: bytes, *, key: bytes | None = None,
                   partition: int | None = None) -> None:
        if partition is None:
            assert key is not None
            partition = partition_for(key.decode(), PARTITIONS[topic])
        self.queues.setdefault((topic, partition), deque()).append(value)

    def take(self, topic: str, partition: int, most: int) -> list[bytes]:
        queue = self.queues.get((topic, partition), deque())
        return [queue.popleft() for _ in range(min(most, len(queue)))]

    def everything(self, topic: str) -> list[bytes]:
        return [v for (t, _), q in sorted(self.queues.items()) if t == topic for v in q]


async def run(items, seed: int, batch_size: int, crash_every: int = 0) -> Bus:
    """Run the stages until every queue is empty. With ``crash_every`` n, every n-th batch
    of the decide stage dies after handling its messages and before its end (nothing of
    it sent or written at the end, offsets not committed), and is then read again."""
    params = Settings().lsh_params()
    bus = Bus()
    for item in items:
        await bus.send("raw", item.article.to_bytes(), key=item.article.id.encode())
    clock = iter(range(10**9)).__next__  # a clock that only moves forward
    stage1 = FingerprintStage(params, TOPICS, vote_partitions=4, band_partitions=8,
                              clock=lambda: float(clock()))
    stage2 = IndexStage(params, TOPICS, vote_partitions=4, max_age=10**9, max_entries=64,
                        clock=lambda: float(clock()))
    stage3 = DecideStage(params, TOPICS, bus.send, vote_partitions=4, band_partitions=8,
                         pending={}, verdicts={}, trails={}, clock=lambda: float(clock()))
    rng = random.Random(seed)
    readable = [(t, p) for t in ("raw", "bands", "votes") for p in range(PARTITIONS[t])]
    decided_batches = 0
    for _ in range(100_000):
        busy = [tp for tp in readable if bus.queues.get(tp)]
        if not busy:
            return bus
        topic, partition = rng.choice(busy)
        values = bus.take(topic, partition, rng.randint(1, batch_size))
        if topic == "raw":
            batch = stage1.new_batch()
            for value in values:
                stage1.handle(batch, value)
            await stage1.finish(batch, bus.send)
        elif topic == "bands":
            answers = stage2.new_batch()
            for value in values:
                stage2.handle(answers, partition, value)
            await stage2.finish(answers, bus.send)
        else:
            decide = DecideBatch()
            for value in values:
                await stage3.handle(decide, value)
            decided_batches += 1
            if crash_every and decided_batches % crash_every == 0:
                bus.queues[(topic, partition)].extendleft(reversed(values))
                continue
            await stage3.finish(decide)
    raise AssertionError("the stages did not settle")


ITEMS = stream(240, copy_share=0.35, seed=11, prefix="m")
STORY = {i.article.id: i.copy_of or i.article.id for i in ITEMS}
INTERLEAVINGS = [(1, 1), (2, 7), (3, 50), (4, 500), (5, 20), (6, 3)]


def groups(bus: Bus) -> frozenset[frozenset[str]]:
    """The stories as dedup grouped them: each first copy with its duplicates."""
    found: dict[str, set[str]] = {}
    for u in map(UniqueArticle.from_bytes, bus.everything("unique")):
        found.setdefault(u.story_id, set()).add(u.id)
    for d in map(DuplicateArticle.from_bytes, bus.everything("duplicates")):
        found.setdefault(d.duplicate_of, set()).add(d.id)
    return frozenset(frozenset(members) for members in found.values())


async def test_the_stories_do_not_depend_on_arrival_order_or_batch_size():
    seen = set()
    for seed, batch_size in INTERLEAVINGS:
        bus = await run(ITEMS, seed, batch_size)
        unique = [UniqueArticle.from_bytes(v).id for v in bus.everything("unique")]
        duplicates = [DuplicateArticle.from_bytes(v).id for v in bus.everything("duplicates")]
        # One verdict per article.
        assert sorted(unique + duplicates) == sorted(STORY)
        grouping = groups(bus)
        # No article joins another story; only which copy is read first may vary.
        assert all(len({STORY[a] for a in members}) == 1 for members in grouping)
        seen.add(grouping)
    assert len(seen) == 1, "the same input gave different stories"
    (grouping,) = seen
    copies = sum(1 for i in ITEMS if i.copy_of)
    caught = len(STORY) - len(grouping)
    assert caught >= 0.95 * copies  # the synthetic copies are heavily edited


async def test_each_story_record_names_its_members_once():
    bus = await run(ITEMS, seed=5, batch_size=20)
    latest = {s.story_id: s for s in map(Story.from_bytes, bus.everything("stories"))}
    trails = set()
    for story in latest.values():
        members = [story.origin.article_id, *(c.article_id for c in story.copies)]
        assert len(members) == len(set(members)) == story.copy_count + 1
        trails.add(frozenset(members))
    assert trails == groups(bus)


async def test_a_decide_batch_that_dies_before_its_end_loses_no_verdict_or_join():
    # A verdict is written as it is reached, its story join only at the batch's end: a
    # crash in between must not leave the copy out of its story's trail.
    bus = await run(ITEMS, seed=7, batch_size=20, crash_every=3)
    grouping = groups(bus)
    assert sum(len(members) for members in grouping) == len(STORY)
    assert all(len({STORY[a] for a in members}) == 1 for members in grouping)
    latest = {s.story_id: s for s in map(Story.from_bytes, bus.everything("stories"))}
    trails = {frozenset([s.origin.article_id, *(c.article_id for c in s.copies)])
              for s in latest.values()}
    assert trails == grouping


async def test_verdicts_and_trails_older_than_the_retention_are_swept():
    params = Settings().lsh_params()
    now = [1000.0]
    verdicts: dict[str, bytes] = {}
    trails: dict[str, bytes] = {}
    bus = Bus()
    stage = DecideStage(params, TOPICS, bus.send, vote_partitions=4, band_partitions=8,
                        pending={}, verdicts=verdicts, trails=trails, clock=lambda: now[0])
    item = ITEMS[0].article
    vote = VoteArticles(articles=[VoteArticle(article=item, band_keys=[])]).to_bytes()
    batch = DecideBatch()
    await stage.handle(batch, vote)  # no band to wait for: decided at once
    await stage.finish(batch)
    for value in bus.take("votes", partition_for(item.id, 4), 10):
        joined = DecideBatch()
        await stage.handle(joined, value)
        await stage.finish(joined)
    assert item.id in verdicts and item.id in trails
    now[0] += 13 * 86400
    assert stage.expire(max_age=14 * 86400) == 0
    now[0] += 2 * 86400
    assert stage.expire(max_age=14 * 86400) == 2 and not verdicts and not trails
