"""The whole pipeline on the real broker: feeds over HTTP to Slack and SMTP."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest
import yaml

from schemas import (
    Alert,
    ClassifiedArticle,
    DeadLetter,
    DuplicateArticle,
    RawArticle,
    Story,
    UniqueArticle,
)
from services.classifier.model import TopicModel
from tests.integration.conftest import ROOT, collect, publish, subscribe

pytestmark = pytest.mark.integration

FEEDS = {"wire-a.xml": "Wire A", "daily-b.xml": "Daily B", "regional-c.xml": "Regional C"}


def _write_config(tmp_path, feeds_server):
    feeds = [{"url": feeds_server.put(name, (ROOT / "demo" / "feeds" / name).read_bytes()),
              "source": source, "interval": 2} for name, source in FEEDS.items()]
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump({"feeds": feeds}))
    return path


async def test_feeds_to_slack_and_email_exactly_once(tmp_path, namespace, bootstrap, servers,
                                                     make_pipeline):
    feeds, slack, smtp = servers
    slack.fail("energy", 429, times=1, headers={"Retry-After": "1"})  # honoured, then delivered
    await subscribe(bootstrap, namespace, ROOT / "config" / "subscriptions.demo.yaml")
    pipeline = make_pipeline({
        "FETCHER_FEEDS": str(_write_config(tmp_path, feeds)),
        "NOTIFIER_SMTP_PORT": str(smtp.port),
        "DEMO_SLACK_ENERGY": slack.url("energy"),
        "DEMO_SLACK_FRONT": slack.url("front"),
    })
    pipeline.start()
    alerts = await collect(bootstrap, namespace + "alerts", lambda values: len(values) >= 5)
    # Several more polls of every feed happen in this time: nothing may alert again.
    await asyncio.sleep(6)
    assert not pipeline.dead()

    records = [Alert.from_bytes(v) for _, v in alerts]
    assert Counter((a.subscription_id, a.channel, a.outcome) for a in records) == Counter({
        ("energy-desk", "slack", "delivered"): 2,
        ("kyiv-watch", "email", "delivered"): 1,
        ("front-line", "slack", "delivered"): 1,
        ("front-line", "email", "delivered"): 1,
    })
    posted = Counter((hook, p["blocks"][0]["text"]["text"]) for hook, p in slack.received)
    assert set(posted.values()) == {1}, f"a Slack alert arrived twice: {posted}"
    assert {h for h, _ in posted} == {"energy", "front"} and len(posted) == 3
    assert ("energy", 429) in slack.attempts
    energy_titles = {t for h, t in posted if h == "energy"}
    assert any("Kharkiv" in t for t in energy_titles)
    assert any("refinery" in t.lower() for t in energy_titles)
    mails = Counter((tuple(rcpt), msg["Subject"]) for rcpt, msg in smtp.messages)
    assert set(mails.values()) == {1}
    assert sorted(r for (r,), _ in mails) == ["front@example.org", "kyiv-desk@example.org"]

    # At-least-once: a verdict may be published again after a restart or rebalance, always
    # the same one, so what counts is the distinct articles.
    uniques = await collect(bootstrap, namespace + "articles.unique", lambda v: False, 5)
    duplicates = await collect(bootstrap, namespace + "articles.duplicates", lambda v: False, 5)
    assert len({UniqueArticle.from_bytes(v).story_id for _, v in uniques}) == 5
    assert len({DuplicateArticle.from_bytes(v).id for _, v in duplicates}) == 3

    # The story trail: the latest record of each story names its copies, and its origin
    # is the copy published first, whichever dedup read first.
    def trails_complete(values: list[bytes]) -> bool:
        latest = {s.story_id: s for s in map(Story.from_bytes, values)}
        return len(latest) >= 5 and sum(1 for s in latest.values() if s.copy_count) >= 3

    records = await collect(bootstrap, namespace + "stories", trails_complete)
    latest = {s.story_id: s for s in (Story.from_bytes(v) for _, v in records)}
    assert set(latest) == {UniqueArticle.from_bytes(v).story_id for _, v in uniques}
    republished = [s for s in latest.values() if s.copy_count]
    assert len(republished) == 3
    for story in republished:
        assert story.copy_count == 1 and story.source_count == 2
        (copy,) = story.copies
        assert story.origin.published_at and copy.published_at
        assert story.origin.published_at <= copy.published_at

    # The classified articles carry the trained model's tags, its version and evidence
    # sentences taken from the article.
    model = TopicModel.load()
    records = await collect(bootstrap, namespace + "articles.classified",
                            lambda v: len({ClassifiedArticle.from_bytes(x).id for x in v}) >= 5)
    classified = {a.id: a for a in (ClassifiedArticle.from_bytes(v) for _, v in records)}
    assert len(classified) == 5
    for article in classified.values():
        assert (article.classifier, article.classifier_version) == (model.name, model.version)
        assert [t.id for t in article.topics] == [
            t.id for t in model.tag(article.title, article.body)]
        for tag in article.topics:
            assert tag.evidence and all(s.removesuffix("…") in article.title + "\n"
                                        + article.body for s in tag.evidence)
    # Which copy of a story is its first depends on arrival (one refinery copy has no
    # headline), so the stories are told apart by their text.
    energy = [a.body for a in classified.values() if "energy" in {t.id for t in a.topics}]
    assert len(energy) == 2 and any("refinery" in t.lower() for t in energy)
    harvest = [a for a in classified.values() if "harvest" in a.body]
    assert len(harvest) == 1 and harvest[0].topics == []


async def test_malformed_messages_are_dead_lettered_and_the_stream_goes_on(
        namespace, bootstrap, servers, make_pipeline, tmp_path):
    _, slack, smtp = servers
    await subscribe(bootstrap, namespace, [
        {"name": "all-odesa", "channels": {"slack": slack.url("all")},
         "rules": {"keywords": ["Odesa"]}}])
    pipeline = make_pipeline({"NOTIFIER_SMTP_PORT": str(smtp.port)})
    pipeline.start(only=("dedup", "classifier", "notifier"))
    now = datetime.now(UTC)
    good_raw = RawArticle(id="good-raw", url="https://e.org/1", source="E", title="Port hit",
                          body="Drones hit the port of Odessa overnight, damaging grain silos "
                               "and a ship, officials said on Monday morning.", fetched_at=now)
    good_unique = UniqueArticle(**good_raw.model_dump() | {"id": "good-unique"},
                                story_id="good-unique")
    good_classified = ClassifiedArticle(**good_raw.model_dump() | {"id": "good-classified"},
                                        story_id="good-classified", topics=[], classifier="t")
    bad = {
        "articles.raw": b'{"id": "r1", "url": "u", "source": "s"}',
        "articles.unique": b"not json at all",
        "articles.classified": b"\xff\xfe binary",
        "dedup.log": b'{"op": "sightings", "sightings": [{"sig": "AAAA"}]}',
    }
    for topic, value in bad.items():
        await publish(bootstrap, namespace + topic, [(b"bad-key", value)])
    # A valid article too large for dedup to forward (~900 kB; the broker takes ~1 MB).
    huge = RawArticle(id="huge-raw", url="https://e.org/huge", source="E", title="Huge",
                      body="word " * 180_000, fetched_at=datetime.now(UTC))
    await publish(bootstrap, namespace + "articles.raw", [(b"huge-raw", huge.to_bytes())])
    await publish(bootstrap, namespace + "articles.raw", [(b"good-raw", good_raw.to_bytes())])
    await publish(bootstrap, namespace + "articles.unique",
                  [(b"good-unique", good_unique.to_bytes())])
    await publish(bootstrap, namespace + "articles.classified",
                  [(b"good-classified", good_classified.to_bytes())])

    letters = await collect(bootstrap, namespace + "deadletters",
                            lambda v: len({DeadLetter.from_bytes(x).key for x in v}) >= 2
                            and len({DeadLetter.from_bytes(x).topic for x in v}) >= len(bad))
    (huge_letter,) = [d for d in map(DeadLetter.from_bytes, (v for _, v in letters))
                      if d.key == "huge-raw"]
    assert huge_letter.stage == "dedup.fingerprint" and huge_letter.truncated
    assert "over the 524,288 bytes one message may carry" in huge_letter.error
    assert len(huge_letter.payload) <= 256_000
    by_topic = {d.topic: d for d in map(DeadLetter.from_bytes, (v for _, v in letters))
                if d.key == "bad-key"}
    assert set(by_topic) == {namespace + t for t in bad}
    raw_letter = by_topic[namespace + "articles.raw"]
    assert raw_letter.stage == "dedup.fingerprint"
    assert "fetched_at: Field required" in raw_letter.error
    assert raw_letter.payload == bad["articles.raw"].decode() and raw_letter.key == "bad-key"
    assert raw_letter.offset == 0 and raw_letter.partition is not None
    assert "not valid JSON" in by_topic[namespace + "articles.unique"].error
    assert by_topic[namespace + "articles.classified"].payload.startswith("base64:")
    assert by_topic[namespace + "dedup.log"].stage == "dedup.decide"
    assert "dedup.log: params: Field required" in by_topic[namespace + "dedup.log"].error

    classified = await collect(bootstrap, namespace + "articles.classified",
                               lambda v: {b"good-raw", b"good-unique"} <= {
                                   ClassifiedArticle.from_bytes(x).id.encode() for x in v
                                   if x.startswith(b"{")})
    assert {"good-raw", "good-unique"} <= {ClassifiedArticle.from_bytes(v).id
                                            for _, v in classified if v.startswith(b"{")}
    alerts = await collect(bootstrap, namespace + "alerts", lambda v: len(v) >= 3)
    assert {Alert.from_bytes(v).article_id for _, v in alerts} == {
        "good-raw", "good-unique", "good-classified"}


async def test_seed_pair_is_one_story_and_nothing_else_is_a_copy(namespace, bootstrap,
                                                                make_pipeline):
    from tests.seeds import SEEDS_DIR, seed_articles

    if not SEEDS_DIR.is_dir():
        pytest.fail(f"{SEEDS_DIR} is missing: the acceptance test needs the seed documents")
    articles = seed_articles()
    make_pipeline().start(only=("dedup",))
    now = datetime.now(UTC)
    items = [(a.id.encode(), RawArticle(id=a.id, url=f"https://seeds.example/{a.id}",
                                        source=f"seed {a.seed}", title=a.title, body=a.body,
                                        fetched_at=now).to_bytes()) for a in articles]
    await publish(bootstrap, namespace + "articles.raw", items)
    unique = await collect(bootstrap, namespace + "articles.unique",
                           lambda v: len({orjson.loads(x)["id"] for x in v}) >= len(articles) - 1)
    duplicates = await collect(bootstrap, namespace + "articles.duplicates", lambda v: False, 5)
    pairs = {(orjson.loads(v)["id"], orjson.loads(v)["duplicate_of"]) for _, v in duplicates}
    balzer = [a.id for a in articles if "Kyle Balzer" in a.body]
    assert len(balzer) == 2
    assert balzer[0].startswith("seed-001") and balzer[1].startswith("seed-002")
    assert len(pairs) == 1 and set(next(iter(pairs))) == set(balzer), pairs
    assert len({orjson.loads(v)["id"] for _, v in unique}) == len(articles) - 1
