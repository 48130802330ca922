"""Scaling and crashes on the real broker: two dedup replicas, services killed mid-stream."""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from devrig.localrig import Pipeline
from devrig.synthetic import SyntheticItem, make_copy, make_story, stream
from schemas import Alert, DuplicateArticle, RawArticle, Story, UniqueArticle
from services.dedup.detector import copies, fingerprint
from services.dedup.settings import Settings as DedupSettings
from tests.integration.conftest import collect, publish, subscribe, until
from tests.trio import EXTENDED, NEWSLETTER, ORIGINAL
from wirewatch.kafka import admin, group_assignment, producer

pytestmark = pytest.mark.integration

PARAMS = DedupSettings().lsh_params()
WATCHED = {"Kyiv", "Kiev", "Kharkiv", "Odesa", "Odessa"}  # what the rule below catches


def caught_by_design(original: RawArticle, copy: RawArticle) -> bool:
    """Whether the detector itself calls this pair a copy (MinHash can miss a few)."""
    return copies(fingerprint(original.body, PARAMS), fingerprint(copy.body, PARAMS), PARAMS)


def copy_pairs(count: int, prefix: str) -> list[tuple[RawArticle, RawArticle]]:
    rng = random.Random(prefix)
    pairs: list[tuple[RawArticle, RawArticle]] = []
    while len(pairs) < count:
        original = make_story(rng, f"{prefix}-o{len(pairs)}", topic_share=0)
        copy = make_copy(rng, original, f"{prefix}-c{len(pairs)}").article
        if caught_by_design(original.article, copy):
            pairs.append((original.article, copy))
    return pairs


async def wait_for_members(bootstrap: str, group: str, topic: str, count: int,
                           timeout: float = 90.0) -> list[set[int]]:
    """Wait until ``count`` members share ``topic`` in a settled group; their partitions."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        state, members = await group_assignment(bootstrap, group)
        owned = [m.get(topic, set()) for m in members]
        if state == "Stable" and len(owned) == count and all(owned):
            return owned
        if loop.time() > deadline:
            pytest.fail(f"group {group} did not settle with {count} members: {state} {owned}")
        await asyncio.sleep(0.5)


async def two_dedup_replicas(namespace: str, bootstrap: str, make_pipeline: Callable[..., Any]
                             ) -> tuple[str, list[set[int]], list[int]]:
    """Start two dedup replicas and wait for them to share ``articles.raw``: the topic,
    each replica's partitions, and one partition of each."""
    make_pipeline(replicas={"dedup": 2}).start(only=("dedup",))
    raw_topic = namespace + "articles.raw"
    owned = await wait_for_members(bootstrap, namespace + "dedup", raw_topic, 2)
    return raw_topic, owned, [min(owned[0]), min(owned[1])]


def _latest_stories(values: list[bytes]) -> dict[str, Story]:
    """Each story's latest record (the compacted topic's view)."""
    return {s.story_id: s for s in map(Story.from_bytes, values)}


def _distinct(values: list[bytes]) -> int:
    """Distinct article ids: after a restart or rebalance a verdict may be repeated."""
    return len({orjson.loads(v)["id"] for v in values})


def _verdicts(uniques: list[tuple[bytes | None, bytes]],
              duplicates: list[tuple[bytes | None, bytes]]) -> tuple[set[str], dict[str, str]]:
    unique_ids = {UniqueArticle.from_bytes(v).id for _, v in uniques}
    copy_of = {d.id: d.duplicate_of
               for d in (DuplicateArticle.from_bytes(v) for _, v in duplicates)}
    return unique_ids, copy_of


async def test_two_dedup_replicas_catch_copies_on_each_others_partitions(
        namespace, bootstrap, make_pipeline):
    raw_topic, owned, side = await two_dedup_replicas(namespace, bootstrap, make_pipeline)

    # Originals first on one replica's partition, their copies later on the other's.
    ordered = copy_pairs(6, "ordered")
    for i, (original, _) in enumerate(ordered):
        await publish(bootstrap, raw_topic, [(original.id.encode(), original.to_bytes())],
                      partition=side[i % 2])
    await collect(bootstrap, namespace + "articles.unique", lambda v: _distinct(v) >= 6)
    for i, (_, copy) in enumerate(ordered):
        await publish(bootstrap, raw_topic, [(copy.id.encode(), copy.to_bytes())],
                      partition=side[(i + 1) % 2])
    # Both copies of a story at the same moment, one on each replica: exactly one wins.
    racing = copy_pairs(6, "racing")
    await asyncio.gather(
        publish(bootstrap, raw_topic, [(a.id.encode(), a.to_bytes()) for a, _ in racing],
                partition=side[0]),
        publish(bootstrap, raw_topic, [(b.id.encode(), b.to_bytes()) for _, b in racing],
                partition=side[1]))

    uniques = await collect(bootstrap, namespace + "articles.unique",
                            lambda v: _distinct(v) >= 12)
    duplicates = await collect(bootstrap, namespace + "articles.duplicates",
                               lambda v: _distinct(v) >= 12)
    unique_ids, copy_of = _verdicts(uniques, duplicates)
    for original, copy in ordered:
        assert copy_of.get(copy.id) == original.id and original.id in unique_ids
    for a, b in racing:
        assert (copy_of.get(b.id) == a.id and a.id in unique_ids) != (
            copy_of.get(a.id) == b.id and b.id in unique_ids), (a.id, b.id, copy_of)
    assert len(unique_ids) == 12 and len(copy_of) == 12
    # The replicas kept their partitions all along, so every pair did cross replicas.
    assert await wait_for_members(bootstrap, namespace + "dedup", raw_topic, 2) == owned


async def test_two_replicas_name_the_earliest_publication_as_the_story_origin(
        namespace, bootstrap, make_pipeline):
    raw_topic, owned, side = await two_dedup_replicas(namespace, bootstrap, make_pipeline)
    early, late = datetime(2026, 3, 1, 8, 0, tzinfo=UTC), datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    # The copy published later is read first, on one replica's partition; the original,
    # published first, is read last, on the other replica's.
    pairs = [(o.model_copy(update={"published_at": early}),
              c.model_copy(update={"published_at": late})) for o, c in copy_pairs(5, "trail")]
    for i, (_, copy) in enumerate(pairs):
        await publish(bootstrap, raw_topic, [(copy.id.encode(), copy.to_bytes())],
                      partition=side[i % 2])
    await collect(bootstrap, namespace + "articles.unique", lambda v: _distinct(v) >= 5)
    for i, (original, _) in enumerate(pairs):
        await publish(bootstrap, raw_topic, [(original.id.encode(), original.to_bytes())],
                      partition=side[(i + 1) % 2])

    records = await collect(bootstrap, namespace + "stories", lambda v: sum(
        1 for s in _latest_stories(v).values() if s.copy_count == 1) >= 5)
    stories = _latest_stories([v for _, v in records])
    assert set(stories) == {c.id for _, c in pairs}  # the story id: the copy read first
    for original, copy in pairs:
        story = stories[copy.id]
        assert story.origin.article_id == original.id, "the origin is the earliest publication"
        assert story.origin.published_at == early and story.origin.url == original.url
        assert [m.article_id for m in story.copies] == [copy.id]
        assert story.copy_count == 1 and story.source_count == 2
        assert story.first_seen <= story.last_seen
    assert await wait_for_members(bootstrap, namespace + "dedup", raw_topic, 2) == owned


async def test_two_stories_that_a_later_article_copies_become_one(
        namespace, bootstrap, make_pipeline):
    raw_topic, _, side = await two_dedup_replicas(namespace, bootstrap, make_pipeline)
    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

    def article(article_id: str, body: str) -> RawArticle:
        return RawArticle(id=article_id, url=f"https://news.example/{article_id}",
                          source=f"outlet-{article_id}", title=article_id, body=body,
                          published_at=at, fetched_at=at)

    # Not copies of each other, read first on the two replicas' partitions...
    extended, newsletter = article("extended", EXTENDED), article("newsletter", NEWSLETTER)
    for partition, item in zip(side, (extended, newsletter), strict=True):
        await publish(bootstrap, raw_topic, [(item.id.encode(), item.to_bytes())],
                      partition=partition)
    await collect(bootstrap, namespace + "articles.unique", lambda v: _distinct(v) >= 2)
    # ...then the original, a copy of both.
    original = article("original", ORIGINAL)
    await publish(bootstrap, raw_topic, [(original.id.encode(), original.to_bytes())],
                  partition=side[0])

    def both_records(values: list[bytes]) -> bool:
        # The two records are on different partitions: wait for both.
        stories = _latest_stories(values)
        return any(s.merged_into in stories and stories[s.merged_into].copy_count == 2
                   for s in stories.values())

    records = await collect(bootstrap, namespace + "stories", both_records)
    stories = _latest_stories([v for _, v in records])
    (merged,) = [s for s in stories.values() if s.merged_into]
    (kept,) = [s for s in stories.values() if not s.merged_into]
    assert merged.merged_into == kept.story_id
    assert {kept.origin.article_id, *(c.article_id for c in kept.copies)} == {
        "extended", "newsletter", "original"}
    assert kept.copy_count == 2 and kept.source_count == 3
    (verdict,) = [DuplicateArticle.from_bytes(v) for _, v in await collect(
        bootstrap, namespace + "articles.duplicates", lambda v: _distinct(v) >= 1)]
    assert verdict.id == "original" and verdict.duplicate_of == kept.story_id


async def test_a_dedup_restarted_while_copies_arrive_loses_none_and_keeps_the_trails(
        namespace, bootstrap, make_pipeline):
    pipeline = make_pipeline({"WIREWATCH_COMMIT_INTERVAL": "0.2"})
    pipeline.start(only=("dedup",))
    raw_topic = namespace + "articles.raw"
    await wait_for_members(bootstrap, namespace + "dedup", raw_topic, 1)
    pairs = copy_pairs(24, "arriving")
    await publish(bootstrap, raw_topic, [(o.id.encode(), o.to_bytes()) for o, _ in pairs])
    await collect(bootstrap, namespace + "articles.unique", lambda v: _distinct(v) >= 24)

    async def copies_trickle() -> None:
        for _, copy in pairs:
            await publish(bootstrap, raw_topic, [(copy.id.encode(), copy.to_bytes())])
            await asyncio.sleep(0.05)

    sending = asyncio.create_task(copies_trickle())
    # Kill the replica once a few copies have been decided, while the rest still arrive.
    await collect(bootstrap, namespace + "articles.duplicates", lambda v: _distinct(v) >= 4)
    dedup = pipeline.of("dedup")[0]
    dedup.kill()
    await asyncio.sleep(0.5)
    dedup.start()
    await sending

    ids = {o.id for o, _ in pairs} | {c.id for _, c in pairs}
    unique_ids, copy_of = await _verdicts_covering(bootstrap, namespace, ids)
    assert copy_of == {c.id: o.id for o, c in pairs}
    assert unique_ids == {o.id for o, _ in pairs}
    records = await collect(bootstrap, namespace + "stories", lambda v: sum(
        1 for s in {s.story_id: s for s in map(Story.from_bytes, v)}.values()
        if s.copy_count) >= 24)
    stories = {s.story_id: s for s in (Story.from_bytes(v) for _, v in records)}
    for original, copy in pairs:
        story = stories[original.id]
        assert story.copy_count == 1 and [m.article_id for m in story.copies] == [copy.id]


async def wait_until_committed(bootstrap: str, group: str, topic: str,
                               timeout: float = 60.0) -> dict[int, int]:
    """Until ``group`` has committed every record of ``topic``; the committed offsets."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(tps)
        while True:
            async with admin(bootstrap) as client:
                committed = await client.list_consumer_group_offsets(group)
            offsets = {tp.partition: committed[tp].offset if tp in committed else 0 for tp in tps}
            if all(offsets[tp.partition] >= ends[tp] for tp in tps):
                return offsets
            if loop.time() > deadline:
                pytest.fail(f"{group} did not commit {topic}: {offsets} of {ends}")
            await asyncio.sleep(0.3)
    finally:
        await consumer.stop()


async def test_a_restarted_dedup_rebuilds_its_index_from_the_log(
        namespace, bootstrap, make_pipeline, tmp_path):
    # Offsets committed almost at once, so the restarted replica starts past the
    # sightings of the originals and knows them only by replaying dedup.log.
    pipeline = make_pipeline({"WIREWATCH_COMMIT_INTERVAL": "0.2", "WIREWATCH_COMMIT_EVERY": "1"})
    pipeline.start(only=("dedup",))
    raw_topic, log_topic = namespace + "articles.raw", namespace + "dedup.log"
    await wait_for_members(bootstrap, namespace + "dedup", raw_topic, 1)
    pairs = copy_pairs(6, "replayed")
    await publish(bootstrap, raw_topic, [(o.id.encode(), o.to_bytes()) for o, _ in pairs])
    await collect(bootstrap, namespace + "articles.unique", lambda v: _distinct(v) >= 6)
    committed = await wait_until_committed(bootstrap, namespace + "dedup", log_topic)
    assert sum(committed.values()) > 0

    dedup = pipeline.of("dedup")[0]
    dedup.kill()
    dedup.start()
    await wait_for_members(bootstrap, namespace + "dedup", raw_topic, 1)
    await publish(bootstrap, raw_topic, [(c.id.encode(), c.to_bytes()) for _, c in pairs])

    unique_ids, copy_of = await _verdicts_covering(
        bootstrap, namespace, {c.id for _, c in pairs} | {o.id for o, _ in pairs})
    assert copy_of == {c.id: o.id for o, c in pairs}
    assert unique_ids == {o.id for o, _ in pairs}
    rebuilt = re.findall(r'msg="index rebuilt".*? messages=(\d+)',
                         (tmp_path / "logs" / "dedup-0.log").read_text())
    assert rebuilt and sum(map(int, rebuilt)) >= 1, "the restarted replica did not replay"


async def _verdicts_covering(bootstrap: str, namespace: str, ids: set[str],
                             timeout: float = 120.0) -> tuple[set[str], dict[str, str]]:
    """Read dedup's verdicts until every id in ``ids`` has one (or time runs out).

    After a crash some verdicts are published again; they must repeat the first one.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        uniques = await collect(bootstrap, namespace + "articles.unique", lambda v: False, 3)
        duplicates = await collect(bootstrap, namespace + "articles.duplicates",
                                   lambda v: False, 3)
        unique_ids, copy_of = _verdicts(uniques, duplicates)
        pairs = {(d.id, d.duplicate_of) for d in map(DuplicateArticle.from_bytes,
                                                     (v for _, v in duplicates))}
        assert len(pairs) == len(copy_of), f"a copy was given two originals: {pairs}"
        if unique_ids | set(copy_of) >= ids or loop.time() > deadline:
            return unique_ids, copy_of


def _story_items() -> list[SyntheticItem]:
    items = stream(90, copy_share=0.3, topic_share=0.7, seed=11, prefix="kill")
    originals = {i.article.id: i.article for i in items if i.copy_of is None}
    return [i for i in items
            if i.copy_of is None or caught_by_design(originals[i.copy_of], i.article)]


def _slack_story_counts(received: list[tuple[str, dict[str, object]]],
                        story_of: dict[str, str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _, payload in received:
        (article_id,) = set(re.findall(r"https://[\w.]+\.example/([\w-]+)", str(payload)))
        counts[story_of[article_id]] += 1
    return counts


async def _wait_quiet(read: Callable[[], object], quiet: float = 1.5,
                      timeout: float = 60.0) -> None:
    """Wait until ``read()`` has not changed for ``quiet`` seconds."""
    loop = asyncio.get_running_loop()
    deadline, last, since = loop.time() + timeout, read(), loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.2)
        now = read()
        if now != last:
            last, since = now, loop.time()
        elif loop.time() - since >= quiet:
            return


async def test_services_killed_mid_stream_lose_nothing_and_alert_once(
        namespace, bootstrap, servers, make_pipeline, tmp_path):
    _, slack, smtp = servers
    await subscribe(bootstrap, namespace, [{
        "name": "cities", "channels": {"slack": slack.url("cities"), "email": "desk@example.org"},
        "rules": {"keywords": ["Kyiv", "Kharkiv", "Odesa"]}}])
    pipeline: Pipeline = make_pipeline({
        "NOTIFIER_SMTP_PORT": str(smtp.port),
        # A dead replica's partitions move after this long; and offsets are committed
        # rarely, so a restarted replica redoes everything it had done.
        "WIREWATCH_SESSION_TIMEOUT": "6", "WIREWATCH_COMMIT_INTERVAL": "300",
        "WIREWATCH_COMMIT_EVERY": "100000",
    })
    pipeline.start(only=("dedup", "classifier", "notifier"))
    items = _story_items()
    story_of = {i.article.id: i.copy_of or i.article.id for i in items}
    expected_stories = {i.article.id for i in items if i.copy_of is None and i.place in WATCHED}
    now = datetime.now(UTC)

    async def feed() -> None:
        async with producer(bootstrap) as prod:
            for item in items:
                article = item.article.model_copy(update={"fetched_at": now})
                await prod.send_and_wait(namespace + "articles.raw", article.to_bytes(),
                                         key=article.id.encode())
                await asyncio.sleep(0.05)

    feeding = asyncio.create_task(feed())
    await collect(bootstrap, namespace + "articles.classified", lambda v: len(v) >= 10)
    # dedup and classifier die in the middle of the stream while articles keep coming.
    for name in ("dedup", "classifier"):
        pipeline.of(name)[0].kill()
    # With nothing new arriving, the notifier finishes its backlog; it is killed between
    # deliveries (a crash during a webhook call can repeat that one call: see README).
    await _wait_quiet(lambda: (len(slack.received), len(smtp.messages)))
    delivered_before_kill = len(slack.received)
    assert delivered_before_kill > 0
    pipeline.of("notifier")[0].kill()
    for name in ("dedup", "classifier", "notifier"):
        pipeline.of(name)[0].start()
    await feeding

    raw_ids = {i.article.id for i in items}
    unique_ids, copy_of = await _verdicts_covering(bootstrap, namespace, raw_ids)
    assert unique_ids | set(copy_of) == raw_ids, "an article was lost"
    assert unique_ids.isdisjoint(copy_of), "an article was given two verdicts"
    # Replayed backlogs are read partition by partition, so a copy may now be read before
    # its original; then it is the story's first copy. Still: one first copy per story.
    stories: dict[str, set[str]] = {}
    for article_id, story in story_of.items():
        stories.setdefault(story, set()).add(article_id)
    for members in stories.values():
        (first,) = members & unique_ids
        assert all(copy_of[m] == first for m in members - {first}), (members, copy_of)

    await until(lambda: len(slack.received) >= len(expected_stories)
                and len(smtp.messages) >= len(expected_stories), "every story's alerts", 120)
    await asyncio.sleep(3)  # room for any repeated alert to show up
    counts = _slack_story_counts(slack.received, story_of)
    assert set(counts) == expected_stories and set(counts.values()) == {1}, counts
    assert len(smtp.messages) == len(expected_stories)
    assert not pipeline.dead()
    # The restarted notifier really did see those stories again and skip them.
    log = (tmp_path / "logs" / "notifier-0.log").read_text()
    assert log.count("already alerted for this story") >= delivered_before_kill
    alerts = await collect(bootstrap, namespace + "alerts",
                           lambda v: len(v) >= 2 * len(expected_stories))
    outcomes = Counter((Alert.from_bytes(v).story_id, Alert.from_bytes(v).channel)
                       for _, v in alerts)
    assert set(outcomes.values()) == {1} and len(outcomes) == 2 * len(expected_stories)


def _rss(items: list[tuple[str, str]]) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>https://wire.example/{slug}?utm_source=rss</link>"
        f"<description>&lt;p&gt;{title}. Officials gave details on Monday.&lt;/p&gt;</description>"
        f"</item>" for slug, title in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
            f"<link>https://wire.example/</link>{entries}</channel></rss>").encode()


async def test_fetcher_killed_and_restarted_never_republishes(namespace, bootstrap, servers,
                                                             make_pipeline, tmp_path):
    feeds, _, _ = servers
    first = [("a", "Drone attack on Odesa port"), ("b", "Talks resume in Geneva"),
             ("c", "Grid repairs in Kharkiv")]
    url = feeds.put("wire.xml", _rss(first))
    config = tmp_path / "feeds.yaml"
    config.write_text(yaml.safe_dump({"feeds": [{"url": url, "source": "Wire", "interval": 1}]}))
    pipeline = make_pipeline({"FETCHER_FEEDS": str(config), "WIREWATCH_SESSION_TIMEOUT": "6"})
    pipeline.start(only=("fetcher",))
    await collect(bootstrap, namespace + "articles.raw", lambda v: len(v) >= 3)
    # Wait until the feed's state (with the ids it published) is on its topic, then crash.
    await collect(bootstrap, namespace + "fetcher.state",
                  lambda v: any(orjson.loads(x).get("seen") for x in v))
    fetcher = pipeline.of("fetcher")[0]
    fetcher.kill()
    # The feed changes while the fetcher is down, so the restarted one gets a full 200
    # with the old items in it, not a 304: only its memory of ids can hold them back.
    feeds.put("wire.xml", _rss([("d", "New sanctions package agreed"), *first]))
    fetcher.start()
    raw = await collect(bootstrap, namespace + "articles.raw", lambda v: len(v) >= 4)
    log_path = tmp_path / "logs" / "fetcher-0.log"
    await until(lambda: "new=1" in log_path.read_text(), "the reload in the log")
    await asyncio.sleep(3)  # three more polls
    raw = await collect(bootstrap, namespace + "articles.raw", lambda v: False, 3)
    titles = sorted(RawArticle.from_bytes(v).title for _, v in raw)
    assert titles == sorted(["New sanctions package agreed", *(t for _, t in first)])
    assert not pipeline.dead()
