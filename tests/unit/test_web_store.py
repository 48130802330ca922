"""The web view's history store, on SQLite in memory: records applied idempotently, the
stream with its filters and full-text search, a story's trail, retention."""

from datetime import UTC, datetime, timedelta

import pytest

from schemas.alert import Alert
from schemas.article_classified import ClassifiedArticle, TopicTag
from schemas.article_duplicate import DuplicateArticle
from schemas.base import MessageDecodeError
from schemas.story import Story, StoryMember
from services.web.store import HistoryStore, fts_query

T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)


def classified(n: int, title: str, body: str, topics=(), source="Wire A",
               hours: float = 0, start: datetime = T0) -> ClassifiedArticle:
    return ClassifiedArticle(
        id=f"a{n}", url=f"https://e.org/{n}", source=source, title=title, body=body,
        published_at=start + timedelta(hours=hours),
        fetched_at=start + timedelta(hours=hours),
        story_id=f"a{n}", classifier="test",
        topics=[TopicTag(id=t, score=0.9, evidence=[f"{t} sentence"]) for t in topics])


def copy_of(story: ClassifiedArticle, n: int, source: str, hours: float) -> DuplicateArticle:
    at = story.fetched_at + timedelta(hours=hours)
    return DuplicateArticle(
        id=f"c{n}", url=f"https://copy.example/{n}", source=source, title="Copy " + story.title,
        body=story.body, fetched_at=at, published_at=at, duplicate_of=story.id,
        similarity=0.93)


def trail(story: ClassifiedArticle, copies: list[DuplicateArticle]) -> Story:
    def member(a, similarity):
        return StoryMember(article_id=a.id, url=a.url, source=a.source, title=a.title,
                           published_at=a.published_at, fetched_at=a.fetched_at,
                           similarity=similarity)
    return Story(story_id=story.id, origin=member(story, 1.0),
                 copies=[member(c, c.similarity) for c in copies], copy_count=len(copies),
                 source_count=len({story.source, *(c.source for c in copies)}),
                 first_seen=story.fetched_at,
                 last_seen=max([story.fetched_at, *(c.fetched_at for c in copies)]))


@pytest.fixture
def store():
    db = HistoryStore(":memory:")
    yield db
    db.close()


def test_the_stream_is_newest_first_with_copies_and_topics(store):
    port = classified(1, "Strike on the port of Odesa", "Missiles hit grain silos.",
                      topics=["strikes", "economy"], hours=1)
    talks = classified(2, "Talks resume in Geneva", "Delegations met on Tuesday.",
                       topics=["diplomacy"], source="Daily B", hours=2)
    copies = [copy_of(port, 1, "Daily B", 3), copy_of(port, 2, "Radio C", 4)]
    for record in (port, talks, *copies):
        store.apply({"a": "articles.classified", "c": "articles.duplicates"}[record.id[0]],
                    record.to_bytes())
    items = store.stream()
    assert [(i.article.id, i.copy_count, i.topics) for i in items] == [
        ("a2", 0, ["diplomacy"]), ("a1", 2, ["economy", "strikes"])]
    store.apply("stories", trail(port, copies).to_bytes())
    assert store.stream(topic="strikes")[0].copy_count == 2
    assert [i.article.id for i in store.stream(source="Daily B")] == ["a2"]
    assert store.stream(since=(T0 + timedelta(hours=1.5)).timestamp())[0].article.id == "a2"


def test_search_finds_a_story_by_any_copys_words_and_ignores_query_syntax(store):
    story = classified(1, "Strike on the port of Odesa", "Missiles hit grain silos.")
    store.add_classified(story)
    copy = copy_of(story, 1, "Daily B", 2).model_copy(
        update={"body": "Les missiles ont touché les silos à Odésa."})
    store.add_copy(copy)
    assert [i.article.id for i in store.stream(text="grain silos")] == ["a1"]
    assert [i.article.id for i in store.stream(text="odesa touche")] == ["a1"]  # accents
    assert store.stream(text="grain AND NOT") == []  # words, not FTS operators
    assert store.stream(text='" OR *') == []
    assert fts_query("Kyiv's \"air\" defence") == '"kyiv" "s" "air" "defence"'


def test_records_delivered_twice_or_late_change_nothing(store):
    story = classified(1, "Strike", "Missiles hit grain silos.", topics=["strikes"])
    copies = [copy_of(story, 1, "Daily B", 2), copy_of(story, 2, "Radio C", 3)]
    newer, older = trail(story, copies), trail(story, copies[:1])
    alert = Alert(subscription_id="desk", article_id="a1", story_id="a1", title="Strike",
                  url=story.url, source="Wire A", reasons=["keywords: strike"],
                  channel="slack", outcome="delivered", attempts=1, created_at=T0)
    for _ in range(2):
        store.add_classified(story)
        for c in copies:
            store.add_copy(c)
        store.add_story(newer)
        store.add_alert(alert)
    store.add_story(older)  # read late: it must not undo the newer trail
    view = store.story("a1")
    assert view is not None
    assert [c.id for c in view.copies] == ["c1", "c2"]
    assert [(t.topic, t.evidence) for t in view.topics] == [("strikes", ["strikes sentence"])]
    assert [(a.subscription_id, a.outcome) for a in view.alerts] == [("desk", "delivered")]
    assert store.stream()[0].copy_count == 2


def test_a_reclassified_article_replaces_its_topics(store):
    store.add_classified(classified(1, "Grid", "Power cuts.", topics=["energy", "strikes"]))
    store.add_classified(classified(1, "Grid", "Power cuts.", topics=["energy"]))
    view = store.story("a1")
    assert view is not None and [t.topic for t in view.topics] == ["energy"]


def test_hostile_text_is_kept_as_written(store):
    store.add_classified(classified(1, "<script>alert(1)</script>", "javascript:void(0)"))
    assert store.stream()[0].article.title == "<script>alert(1)</script>"


def test_bad_records_are_refused_with_the_reason(store):
    with pytest.raises(MessageDecodeError, match="ClassifiedArticle"):
        store.apply("articles.classified", b'{"id": "x"}')
    with pytest.raises(ValueError, match="no records of 'subscriptions'"):
        store.apply("subscriptions", b"{}")


def test_prune_forgets_stories_whose_latest_copy_was_fetched_before_the_retention(store):
    old = classified(1, "Old story", "Text.", hours=0)
    recent = classified(2, "Recent story", "Text.", hours=10)
    store.add_classified(old)
    store.add_classified(recent)
    store.add_copy(copy_of(old, 1, "Daily B", 12))  # a late copy keeps the old story
    store.add_classified(classified(3, "Stale", "Text.", hours=1))
    assert store.prune((T0 + timedelta(hours=5)).timestamp()) == 1
    assert {i.article.id for i in store.stream()} == {"a1", "a2"}
    assert store.story("a3") is None


def test_feeds_silent_ones_first_with_their_items_of_the_day(store):
    import orjson

    now = T0.timestamp() + 3600
    store.put_feed("https://a.example/feed", orjson.dumps(
        {"source": "Wire A", "checked_at": now - 60, "ok_at": now - 60, "failures": 0}))
    store.put_feed("https://c.example/feed", orjson.dumps(
        {"source": "Radio C", "checked_at": now - 60, "ok_at": now - 7200, "failures": 3,
         "last_error": "HTTP 503", "seen": ["x"] * 3}))
    store.add_classified(classified(1, "Story", "Text.").model_copy(
        update={"feed_url": "https://a.example/feed"}))
    feeds = store.feeds(now)
    assert [(f.source, f.items_24h, f.last_error) for f in feeds] == [
        ("Radio C", 0, "HTTP 503"), ("Wire A", 1, None)]
    with pytest.raises(ValueError, match="not a feed state"):
        store.put_feed("https://b.example/feed", b"[1, 2]")
    store.put_feed("https://c.example/feed", None)
    assert [f.source for f in store.feeds(now)] == ["Wire A"]


def test_a_store_of_another_layout_is_rebuilt_from_the_topics(tmp_path):
    import sqlite3

    path = tmp_path / "history.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE articles (id TEXT PRIMARY KEY)")
    old.execute("CREATE TABLE positions (topic TEXT, partition INTEGER, next_offset INTEGER)")
    old.execute("INSERT INTO positions VALUES ('articles.unique', 0, 99)")
    old.commit()
    old.close()
    store = HistoryStore(path)
    assert store.next_offset("articles.unique", 0) is None  # read again from the start
    store.add_classified(classified(1, "Story", "Text."))
    assert store.count() == 1
    store.close()


def test_the_story_names_as_origin_the_copy_its_trail_says_was_published_first(store):
    first_read = classified(1, "Strike", "Missiles hit grain silos.", hours=2)
    earlier = copy_of(first_read, 1, "Daily B", -1)  # published an hour before it
    store.add_classified(first_read)
    store.add_copy(earlier)
    view = store.story("a1")
    assert view is not None and view.origin.id == "a1"  # no trail yet: the first read
    story = trail(first_read, [earlier]).model_copy(update={"origin": trail(
        first_read, [earlier]).copies[0].model_copy(update={"similarity": 1.0})})
    store.add_story(story)
    view = store.story("a1")
    assert view is not None
    assert view.origin.id == "c1" and [c.id for c in view.copies] == ["a1"]


def test_a_story_merged_into_another_becomes_part_of_it_whatever_the_reading_order(store):
    kept = classified(1, "Blackout", "Shelling cut power to two villages.", hours=0)
    joined = classified(2, "Letter", "A weekly letter quoting the same report.", hours=1)
    late_copy = copy_of(joined, 2, "Daily C", 2)
    store.add_classified(kept)
    store.add_story(trail(kept, []))
    store.add_story(trail(joined, []).model_copy(update={"merged_into": "a1"}))
    # The merged story's own records arrive after the merge record: they join a1 too.
    store.add_classified(joined)
    store.add_copy(late_copy)
    store.add_story(trail(joined, [late_copy]))  # an older record read late changes nothing
    assert store.count() == 1
    view = store.story("a2")
    assert view is not None and view.origin.id == "a1"
    assert sorted(c.id for c in view.copies) == ["a2", "c2"]
    assert [item.article.id for item in store.stream()] == ["a1"]
