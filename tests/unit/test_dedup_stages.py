"""dedup's two stages in memory, without a broker: the middle tier of tests.

An in-memory bus stands in for the topics' partitions; each partition is read by one
consumer in batches, and which partition goes next is drawn at random, so the same
input is run in many interleavings and batch sizes.
"""

from __future__ import annotations

import itertools
import random
import zlib
from datetime import UTC, datetime

from devrig.synthetic import SyntheticItem, stream
from schemas.article_duplicate import DuplicateArticle
from schemas.article_raw import RawArticle
from schemas.article_unique import UniqueArticle
from schemas.story import Story
from services.dedup.detector import copies, fingerprint
from services.dedup.index import Decision, StoryIndex
from services.dedup.protocol import decode_log_message
from services.dedup.settings import Settings
from services.dedup.stages import DecideBatch, DecideStage, FingerprintStage, Topics
from tests.trio import EXTENDED, NEWSLETTER, ORIGINAL

TOPICS = Topics(log="log", unique="unique", duplicates="duplicates", stories="stories")
PARTITIONS = {"raw": 4, "log": 1, "unique": 4, "duplicates": 4, "stories": 4}


class Bus:
    """Topic partitions as logs with a read position; keyed messages go to a partition
    by their key's hash, as Kafka's partitioner would spread them."""

    def __init__(self) -> None:
        self.logs: dict[tuple[str, int], list[bytes]] = {}
        self.read: dict[tuple[str, int], int] = {}

    async def send(self, topic: str, value: bytes, *, key: bytes | None = None,
                   partition: int | None = None) -> None:
        if partition is None:
            assert key is not None
            partition = zlib.crc32(key) % PARTITIONS[topic]  # stable across runs
        self.logs.setdefault((topic, partition), []).append(value)

    def waiting(self, tp: tuple[str, int]) -> int:
        return len(self.logs.get(tp, ())) - self.read.get(tp, 0)

    def take(self, tp: tuple[str, int], most: int) -> list[bytes]:
        start = self.read.get(tp, 0)
        values = self.logs.get(tp, [])[start:start + most]
        self.read[tp] = start + len(values)
        return values

    def everything(self, topic: str) -> list[bytes]:
        return [v for (t, _), log in sorted(self.logs.items()) if t == topic for v in log]


def decide_stage() -> DecideStage:
    return DecideStage(Settings().lsh_params(), TOPICS, max_age=10**9, max_entries=64)


async def run(items, seed: int, batch_size: int, crash_every: int = 0) -> Bus:
    """Run the stages until every partition is read. With ``crash_every`` n, every n-th
    batch of the decide stage dies after handling its messages and before its end
    (nothing of it sent, offsets not committed); a new decide stage replays the log up
    to the committed offset, as a replica taking the log over does, and reads on."""
    params = Settings().lsh_params()
    bus = Bus()
    for item in items:
        await bus.send("raw", item.article.to_bytes(), key=item.article.id.encode())
    clock = iter(range(10**9)).__next__  # a clock that only moves forward
    stage1 = FingerprintStage(params, TOPICS, clock=lambda: float(clock()))
    stage2 = decide_stage()
    rng = random.Random(seed)
    readable = [("raw", p) for p in range(PARTITIONS["raw"])] + [("log", 0)]
    decided_batches = 0
    for _ in range(100_000):
        busy = [tp for tp in readable if bus.waiting(tp)]
        if not busy:
            return bus
        tp = rng.choice(busy)
        committed = bus.read.get(tp, 0)
        values = bus.take(tp, rng.randint(1, batch_size))
        if tp[0] == "raw":
            batch = stage1.new_batch()
            for value in values:
                stage1.handle(batch, value)
            await stage1.finish(batch, bus.send)
            continue
        decide = DecideBatch()
        for value in values:
            stage2.handle(decide, value)
        decided_batches += 1
        if crash_every and decided_batches % crash_every == 0:
            bus.read[tp] = committed
            stage2 = decide_stage()
            for value in bus.logs[tp][:committed]:
                stage2.replay(value)
            continue
        await stage2.finish(decide, bus.send)
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


async def test_a_decide_batch_that_dies_before_its_end_loses_no_verdict_or_copy():
    # Its verdicts were reached but never sent: the replica that reads the log next
    # replays what was committed and gives the same verdicts again.
    bus = await run(ITEMS, seed=7, batch_size=20, crash_every=3)
    grouping = groups(bus)
    assert sum(len(members) for members in grouping) == len(STORY)
    assert grouping == groups(await run(ITEMS, seed=7, batch_size=20))
    latest = {s.story_id: s for s in map(Story.from_bytes, bus.everything("stories"))}
    trails = {frozenset([s.origin.article_id, *(c.article_id for c in s.copies)])
              for s in latest.values()}
    assert trails == grouping


def verdicts(bus: Bus) -> dict[str, str]:
    """Each article's story as the published verdicts give it."""
    found = {u.id: u.story_id for u in map(UniqueArticle.from_bytes, bus.everything("unique"))}
    found |= {d.id: d.duplicate_of
              for d in map(DuplicateArticle.from_bytes, bus.everything("duplicates"))}
    return found


async def test_a_redelivered_article_gets_its_first_verdict_again():
    # At least once: articles fingerprinted again after a crash are sighted again, later
    # in the log; a replica that replayed the log answers them as the first time.
    first = await run(ITEMS[:60], seed=3, batch_size=10)
    again = Bus()
    again.logs[("log", 0)] = list(first.logs[("log", 0)])
    stage = decide_stage()
    for value in again.logs[("log", 0)]:
        stage.replay(value)
    stage1 = FingerprintStage(Settings().lsh_params(), TOPICS)
    batch = stage1.new_batch()
    for item in reversed(ITEMS[:60]):
        stage1.handle(batch, item.article.to_bytes())
    await stage1.finish(batch, again.send)
    decide = DecideBatch()
    stage.handle(decide, again.logs[("log", 0)][-1])
    await stage.finish(decide, again.send)
    assert all(d.repeated for d in decide.decisions) and len(decide.decisions) == 60
    assert verdicts(again) == verdicts(first)


async def test_articles_and_trails_older_than_the_retention_are_swept():
    bus = Bus()
    stage = DecideStage(Settings().lsh_params(), TOPICS, max_age=14 * 86400,
                        max_entries=64)
    stage1 = FingerprintStage(Settings().lsh_params(), TOPICS, clock=lambda: 1000.0)
    batch = stage1.new_batch()
    stage1.handle(batch, ITEMS[0].article.to_bytes())
    await stage1.finish(batch, bus.send)
    decide = DecideBatch()
    stage.handle(decide, bus.logs[("log", 0)][0])
    await stage.finish(decide, bus.send)
    assert stage.index.entries and stage.index.trails
    assert stage.expire(1000.0 + 13 * 86400) == 0
    assert stage.expire(1000.0 + 15 * 86400) == 2
    assert not stage.index.entries and not stage.index.trails and not stage.index.keys


def article(article_id: str, body: str) -> RawArticle:
    return RawArticle(id=article_id, url=f"https://news.example/{article_id}",
                      source=f"outlet-{article_id}", title=article_id, body=body,
                      fetched_at=datetime(2024, 3, 1, tzinfo=UTC))


def final_stories(bus: Bus) -> frozenset[frozenset[str]]:
    """The stories as their latest ``stories`` records give them, merged ones left out."""
    latest = {s.story_id: s for s in map(Story.from_bytes, bus.everything("stories"))}
    return frozenset(frozenset([s.origin.article_id, *(c.article_id for c in s.copies)])
                     for s in latest.values() if s.merged_into is None)


async def test_stories_an_article_copies_both_of_become_one_in_any_order():
    made = [SyntheticItem(article(name, body)) for name, body in
            (("original", ORIGINAL), ("extended", EXTENDED), ("newsletter", NEWSLETTER))]
    params = Settings().lsh_params()
    assert not copies(fingerprint(EXTENDED, params), fingerprint(NEWSLETTER, params), params)
    merged_once = False
    for order in itertools.permutations(made):
        for seed, batch_size in [(1, 1), (2, 3)]:
            bus = await run(list(order), seed, batch_size)
            assert final_stories(bus) == {frozenset({"original", "extended", "newsletter"})}
            records = [Story.from_bytes(v) for v in bus.everything("stories")]
            merged = [r for r in records if r.merged_into is not None]
            merged_once |= bool(merged)
            for record in merged:
                assert record.merged_into != record.story_id
    assert merged_once, "no order made two stories for the original to join"


def test_a_merged_story_leads_later_copies_and_redeliveries_to_the_story_it_joined():
    params = Settings().lsh_params()
    stage = FingerprintStage(params, TOPICS, clock=lambda: 1000.0)
    index = StoryIndex(params, max_age=10**9, max_entries=64)

    def decide(*articles: RawArticle) -> list[Decision]:
        batch = stage.new_batch()
        for a in articles:
            stage.handle(batch, a.to_bytes())
        return [d for value in batch.drain() for d in index.apply(decode_log_message(value))]

    decide(article("extended", EXTENDED), article("newsletter", NEWSLETTER))
    assert len(index.trails) == 2  # not copies of each other
    (joined,) = decide(article("original", ORIGINAL))
    assert joined.verdict.original is not None
    assert joined.trail is not None and joined.trail.story_id == "extended"  # read first
    assert [t.story_id for t in joined.merged] == ["newsletter"]
    assert joined.merged[0].record().merged_into == "extended"
    assert joined.trail.record().copy_count == 2
    # A later copy of the newsletter joins the story the newsletter is part of now.
    (later,) = decide(article("newsletter-again", NEWSLETTER + "\n\nSource link"))
    assert later.verdict.original is not None
    assert later.verdict.original.story_id == "extended"
    # A redelivered newsletter gets its first verdict again, with the story's trail now.
    (again,) = decide(article("newsletter", NEWSLETTER))
    assert again.repeated and again.verdict.original is None
    assert again.trail is not None and again.trail.story_id == "extended"
    # Once the story is past the retention, nothing leads to it any more.
    index.max_age = 1.0
    index.expire(10_000.0)
    assert index.merged == {} and index.trails == {} and index.entries == {}
