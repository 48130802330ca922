"""The web view's history store: the public topics materialised in SQLite, searchable with
FTS5. Pure logic over a database file; no Kafka, no HTTP.

Every record is applied idempotently (at-least-once delivery repeats some): an article is
one row by id, a story one row by id that only a record at least as recent replaces, an
alert one row per (subscription, story, channel, outcome, attempts). Articles are
searchable by title and body through an FTS5 index kept in step by triggers.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from schemas.alert import Alert
from schemas.article_classified import ClassifiedArticle
from schemas.article_duplicate import DuplicateArticle
from schemas.article_unique import UniqueArticle
from schemas.story import Story
from schemas.subscription import Subscription
from schemas.topics import (
    ALERTS,
    ARTICLES_CLASSIFIED,
    ARTICLES_DUPLICATES,
    ARTICLES_UNIQUE,
    STORIES,
    SUBSCRIPTIONS,
)
from wirewatch.text import words

__all__ = ["TREND_WINDOWS", "AlertRow", "AlertSummary", "ArticleRow", "FeedRow", "HistoryStore",
           "StoryView", "StreamItem", "TopicRow"]

STORED_TOPICS = (ARTICLES_UNIQUE.name, ARTICLES_DUPLICATES.name, ARTICLES_CLASSIFIED.name,
                 STORIES.name, ALERTS.name, SUBSCRIPTIONS.name)

# The trend windows the pages offer: name -> (span, bucket), in seconds.
TREND_WINDOWS: dict[str, tuple[float, float]] = {
    "24h": (86_400.0, 3600.0), "7d": (7 * 86_400.0, 3600.0), "30d": (30 * 86_400.0, 86_400.0)}

STORE_VERSION = 4  # the layout below; a file of another one is rebuilt

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    story_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('unique', 'copy')),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    url TEXT NOT NULL,
    source TEXT NOT NULL,
    published_at REAL,
    fetched_at REAL NOT NULL,
    seen_at REAL NOT NULL,  -- publication time if known, else fetch time
    similarity REAL,
    feed_url TEXT
);
CREATE INDEX IF NOT EXISTS articles_feed ON articles (feed_url, fetched_at);
CREATE TABLE IF NOT EXISTS retrying (  -- deliveries the notifier is still trying
    story_id TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    due_at REAL NOT NULL,
    title TEXT NOT NULL,
    PRIMARY KEY (story_id, subscription_id, channel)
);
CREATE TABLE IF NOT EXISTS feeds (  -- the fetcher's state of each feed
    url TEXT PRIMARY KEY,
    source TEXT,
    checked_at REAL,
    ok_at REAL,
    failures INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS articles_story ON articles (story_id);
CREATE INDEX IF NOT EXISTS articles_seen ON articles (kind, seen_at);
CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5 (
    title, body, content = 'articles', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS articles_ai AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, title, body) VALUES (new.rowid, new.title, new.body);
END;
CREATE TRIGGER IF NOT EXISTS articles_ad AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, body)
    VALUES ('delete', old.rowid, old.title, old.body);
END;
CREATE TRIGGER IF NOT EXISTS articles_au AFTER UPDATE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, body)
    VALUES ('delete', old.rowid, old.title, old.body);
    INSERT INTO articles_fts (rowid, title, body) VALUES (new.rowid, new.title, new.body);
END;
CREATE TABLE IF NOT EXISTS merged_stories (  -- stories found to be part of another
    story_id TEXT PRIMARY KEY,
    into_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stories (
    story_id TEXT PRIMARY KEY,
    origin_id TEXT NOT NULL,
    copy_count INTEGER NOT NULL,
    source_count INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    record TEXT NOT NULL  -- the Story record as JSON
);
CREATE TABLE IF NOT EXISTS topics (
    article_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    score REAL NOT NULL,
    evidence TEXT NOT NULL,  -- JSON list of sentences
    terms TEXT NOT NULL,  -- JSON list
    PRIMARY KEY (article_id, topic)
);
CREATE INDEX IF NOT EXISTS topics_topic ON topics (topic);
CREATE TABLE IF NOT EXISTS alerts (
    subscription_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    article_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    outcome TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT,
    reasons TEXT NOT NULL,  -- JSON list
    title TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (subscription_id, story_id, channel, outcome, attempts)
);
CREATE INDEX IF NOT EXISTS alerts_story ON alerts (story_id);
CREATE TABLE IF NOT EXISTS subscriptions (
    name TEXT PRIMARY KEY,
    record TEXT NOT NULL  -- the Subscription record as JSON, ${VAR}s unexpanded
);
CREATE TABLE IF NOT EXISTS positions (  -- the next offset to read, per topic partition
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""


@dataclass(frozen=True)
class TopicRow:
    topic: str
    score: float
    evidence: list[str]
    terms: list[str]


@dataclass(frozen=True)
class ArticleRow:
    id: str
    story_id: str
    kind: str
    title: str
    url: str
    source: str
    seen_at: float
    similarity: float | None


@dataclass(frozen=True)
class AlertRow:
    subscription_id: str
    channel: str
    outcome: str
    attempts: int
    error: str | None
    reasons: list[str]
    created_at: float


@dataclass(frozen=True)
class AlertSummary:
    """How one subscription's channel has fared."""

    subscription_id: str
    channel: str
    delivered: int
    failed: int
    retrying: int
    last_outcome: str
    last_at: float | None
    last_error: str | None


@dataclass(frozen=True)
class FeedRow:
    """A feed as the fetcher last left it."""

    url: str
    source: str | None
    checked_at: float | None
    ok_at: float | None
    failures: int
    last_error: str | None
    items_24h: int


@dataclass(frozen=True)
class StreamItem:
    """A story in the stream: its first copy, how many copies followed, its topics."""

    article: ArticleRow
    copy_count: int
    topics: list[str]


@dataclass
class StoryView:
    """A story with its trail, topics and alerts."""

    origin: ArticleRow
    copies: list[ArticleRow] = field(default_factory=list)
    topics: list[TopicRow] = field(default_factory=list)
    alerts: list[AlertRow] = field(default_factory=list)


def _ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def fts_query(text: str) -> str | None:
    """The user's words as an FTS5 query of quoted terms, all required (no FTS syntax
    reaches the engine from the user), or None if the text holds no word."""
    terms = words(text)
    return " ".join(f'"{t}"' for t in terms) or None


class HistoryStore:
    """The store in one SQLite file (``:memory:`` for tests)."""

    def __init__(self, path: Path | str) -> None:
        # Used by one thread at a time (the web service's event loop); not pinned to the
        # one that opened it, so that a test may open it before the app's thread runs.
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode = WAL")
        if self._db.execute("PRAGMA user_version").fetchone()[0] != STORE_VERSION:
            # A store of another layout is rebuilt from the topics: dropping its tables
            # drops the offsets too, so the feed reads every topic from the start.
            names = [r[0] for r in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'articles_fts_%'")]
            for name in sorted(names, key=lambda n: n != "articles_fts"):
                self._db.execute(f'DROP TABLE IF EXISTS "{name}"')
            self._db.execute(f"PRAGMA user_version = {STORE_VERSION}")
        self._db.executescript(_SCHEMA)
        # Counts the writes: pages that show live updates poll it.
        self.version = 0

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self, position: tuple[str, int, int] | None = None
                     ) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN")
        try:
            yield self._db
            if position is not None:
                topic, partition, offset = position
                self._db.execute(
                    "INSERT INTO positions (topic, partition, next_offset) VALUES (?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET next_offset = MAX(next_offset, "
                    "excluded.next_offset)", (topic, partition, offset + 1))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self.version += 1

    # -- applying records --------------------------------------------------------------

    def apply(self, topic: str, value: bytes, *, position: tuple[str, int, int] | None = None
              ) -> None:
        """Apply one record of a public topic (its name without namespace); raises
        MessageDecodeError for a value its model refuses, ValueError for another topic.

        ``position``: the record's (full topic name, partition, offset), remembered with
        the record in one transaction, so that a restart reads on from the next one.
        """
        if topic == ARTICLES_UNIQUE.name:
            self.add_unique(UniqueArticle.from_bytes(value), position)
        elif topic == ARTICLES_DUPLICATES.name:
            self.add_copy(DuplicateArticle.from_bytes(value), position)
        elif topic == ARTICLES_CLASSIFIED.name:
            self.add_classified(ClassifiedArticle.from_bytes(value), position)
        elif topic == STORIES.name:
            self.add_story(Story.from_bytes(value), position)
        elif topic == ALERTS.name:
            self.add_alert(Alert.from_bytes(value), position)
        else:
            raise ValueError(f"the history store keeps no records of {topic!r}")

    def put_subscription(self, name: str, value: bytes | None,
                         position: tuple[str, int, int] | None = None) -> None:
        """Apply a record of the subscriptions topic: a subscription, or a tombstone
        (``None``) that deletes it; raises MessageDecodeError for an invalid one."""
        sub = None if value is None else Subscription.from_bytes(value)
        with self._transaction(position) as db:
            if sub is None:
                db.execute("DELETE FROM subscriptions WHERE name = ?", (name,))
            else:
                db.execute("INSERT INTO subscriptions (name, record) VALUES (?, ?) "
                           "ON CONFLICT (name) DO UPDATE SET record = excluded.record",
                           (name, sub.to_bytes().decode()))

    def put_feed(self, url: str, value: bytes | None,
                 position: tuple[str, int, int] | None = None) -> None:
        """Apply a record of the fetcher's state topic (JSON: failures, last_error,
        checked_at, ok_at, source); ValueError if it is not such a record."""
        with self._transaction(position) as db:
            if value is None:
                db.execute("DELETE FROM feeds WHERE url = ?", (url,))
                return
            try:
                state = orjson.loads(value)
                row = (url, state.get("source"), state.get("checked_at"), state.get("ok_at"),
                       int(state.get("failures") or 0), state.get("last_error"))
            except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
                raise ValueError(f"not a feed state: {exc}") from None
            db.execute("INSERT INTO feeds (url, source, checked_at, ok_at, failures, "
                       "last_error) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (url) DO UPDATE "
                       "SET source = excluded.source, checked_at = excluded.checked_at, "
                       "ok_at = excluded.ok_at, failures = excluded.failures, "
                       "last_error = excluded.last_error", row)

    def put_pending(self, story_id: str, value: bytes | None,
                    position: tuple[str, int, int] | None = None) -> None:
        """Apply a record of the notifier's pending deliveries (per story: the article
        and its slots still to deliver); the slots tried at least once are *retrying*.
        ValueError if it is not such a record."""
        with self._transaction(position) as db:
            db.execute("DELETE FROM retrying WHERE story_id = ?", (story_id,))
            if value is None:
                return
            try:
                pending = orjson.loads(value)
                title = str(pending["article"].get("title", ""))
                rows = [(story_id, str(slot["subscription"]), str(slot["channel"]),
                         int(slot.get("attempts", 0)), slot.get("last_error"),
                         float(slot["due_at"]), title)
                        for slot in pending.get("slots", {}).values()
                        if int(slot.get("attempts", 0)) > 0]
            except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError,
                    ValueError) as exc:
                raise ValueError(f"not a pending-deliveries record: {exc}") from None
            db.executemany("INSERT INTO retrying VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def retrying(self) -> list[dict[str, object]]:
        """The deliveries still being tried: story, subscription, channel, attempts, last
        error, next try."""
        return [dict(r) for r in self._db.execute(
            "SELECT * FROM retrying ORDER BY due_at, subscription_id, channel")]

    def feeds(self, now: float) -> list[FeedRow]:
        """Every feed with its last poll, last error and items fetched in the 24 hours
        before ``now``; the silent ones (fewest items, longest without news) first."""
        rows = self._db.execute(
            """SELECT f.*, (SELECT COUNT(*) FROM articles a WHERE a.feed_url = f.url
                             AND a.fetched_at >= ?) AS items
               FROM feeds f""", (now - 86_400,)).fetchall()
        found = [FeedRow(r["url"], r["source"], r["checked_at"], r["ok_at"], r["failures"],
                         r["last_error"], r["items"]) for r in rows]
        return sorted(found, key=lambda f: (f.items_24h, f.ok_at or 0.0, f.url))

    def subscriptions(self) -> list[Subscription]:
        """Every subscription, by name."""
        return [Subscription.from_bytes(r[0]) for r in self._db.execute(
            "SELECT record FROM subscriptions ORDER BY name")]

    def subscription(self, name: str) -> Subscription | None:
        row = self._db.execute("SELECT record FROM subscriptions WHERE name = ?",
                               (name,)).fetchone()
        return None if row is None else Subscription.from_bytes(row[0])

    def articles_since(self, since: float) -> list[tuple[ClassifiedArticle, float]]:
        """The stories' first copies seen since ``since``, as classified articles (with
        their topics), each with its time: what a rule is tested on."""
        rows = self._db.execute(
            "SELECT * FROM articles WHERE kind = 'unique' AND seen_at >= ? "
            "ORDER BY seen_at DESC", (since,)).fetchall()
        topics = self._topics_of([r["id"] for r in rows])
        found = []
        for r in rows:
            article = ClassifiedArticle(
                id=r["id"], url=r["url"], source=r["source"], title=r["title"],
                body=r["body"], fetched_at=datetime.fromtimestamp(r["fetched_at"], UTC),
                story_id=r["story_id"], classifier="store",
                topics=[{"id": t.topic, "score": t.score, "evidence": t.evidence}
                        for t in topics.get(r["id"], [])])
            found.append((article, r["seen_at"]))
        return found

    def skip(self, position: tuple[str, int, int]) -> None:
        """Remember that a record was read without being stored (a bad one)."""
        with self._transaction(position):
            pass

    def next_offset(self, topic: str, partition: int) -> int | None:
        """Where to read a partition on from, if the store has read it before."""
        row = self._db.execute("SELECT next_offset FROM positions WHERE topic = ? AND "
                               "partition = ?", (topic, partition)).fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def _story_now(db: sqlite3.Connection, story_id: str) -> str:
        """The story a story id stands for: itself, or the one it was merged into."""
        row = db.execute("SELECT into_id FROM merged_stories WHERE story_id = ?",
                         (story_id,)).fetchone()
        return story_id if row is None else str(row[0])

    def _put_article(self, db: sqlite3.Connection, article: UniqueArticle | DuplicateArticle,
                     story_id: str, kind: str, similarity: float | None) -> None:
        # A record read after its story was merged into another (topics are read apart)
        # goes to that story; a story's first copy is then one of its copies.
        now = self._story_now(db, story_id)
        if now != story_id:
            story_id, kind = now, "copy"
        db.execute(
            """INSERT INTO articles (id, story_id, kind, title, body, url, source,
                                     published_at, fetched_at, seen_at, similarity, feed_url)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET
                   story_id = excluded.story_id, kind = excluded.kind,
                   title = excluded.title, body = excluded.body, url = excluded.url,
                   source = excluded.source, published_at = excluded.published_at,
                   fetched_at = excluded.fetched_at, seen_at = excluded.seen_at,
                   similarity = excluded.similarity, feed_url = excluded.feed_url
               WHERE (articles.title, articles.body, articles.story_id, articles.kind)
                     IS NOT (excluded.title, excluded.body, excluded.story_id, excluded.kind)
            """,
            (article.id, story_id, kind, article.title, article.body, article.url,
             article.source, _ts(article.published_at), article.fetched_at.timestamp(),
             article.order_time().timestamp(), similarity, article.feed_url))

    def add_unique(self, article: UniqueArticle,
                   position: tuple[str, int, int] | None = None) -> None:
        with self._transaction(position) as db:
            self._put_article(db, article, article.story_id, "unique", None)

    def add_copy(self, article: DuplicateArticle,
                 position: tuple[str, int, int] | None = None) -> None:
        with self._transaction(position) as db:
            self._put_article(db, article, article.duplicate_of, "copy", article.similarity)

    def add_classified(self, article: ClassifiedArticle,
                       position: tuple[str, int, int] | None = None) -> None:
        with self._transaction(position) as db:
            self._put_article(db, article, article.story_id, "unique", None)
            db.execute("DELETE FROM topics WHERE article_id = ?", (article.id,))
            db.executemany(
                "INSERT INTO topics (article_id, topic, score, evidence, terms) "
                "VALUES (?, ?, ?, ?, ?)",
                [(article.id, t.id, t.score, orjson.dumps(t.evidence).decode(),
                  orjson.dumps(t.terms).decode()) for t in article.topics])

    def add_story(self, story: Story,
                  position: tuple[str, int, int] | None = None) -> None:
        # A story record is re-published as copies join; an older one read late (a
        # replay, a redelivery) must not undo a newer one.
        with self._transaction(position) as db:
            if story.merged_into is not None:
                self._merge(db, story.story_id, story.merged_into)
                return
            if self._story_now(db, story.story_id) != story.story_id:
                return  # an older record of a story merged since
            db.execute(
                """INSERT INTO stories (story_id, origin_id, copy_count, source_count,
                                        first_seen, last_seen, record)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (story_id) DO UPDATE SET
                       origin_id = excluded.origin_id, copy_count = excluded.copy_count,
                       source_count = excluded.source_count,
                       first_seen = excluded.first_seen, last_seen = excluded.last_seen,
                       record = excluded.record
                   WHERE (excluded.last_seen, excluded.copy_count)
                         >= (stories.last_seen, stories.copy_count)""",
                (story.story_id, story.origin.article_id, story.copy_count,
                 story.source_count, story.first_seen.timestamp(),
                 story.last_seen.timestamp(), story.to_bytes().decode()))

    def _merge(self, db: sqlite3.Connection, story_id: str, into: str) -> None:
        """The story's copies (its first one too) and the stories merged into it move to
        the story it turned out to be part of; its own record goes."""
        into = self._story_now(db, into)
        db.execute("INSERT INTO merged_stories (story_id, into_id) VALUES (?, ?) "
                   "ON CONFLICT (story_id) DO UPDATE SET into_id = excluded.into_id",
                   (story_id, into))
        db.execute("UPDATE merged_stories SET into_id = ? WHERE into_id = ?", (into, story_id))
        db.execute("UPDATE articles SET story_id = ?, kind = 'copy' WHERE story_id = ?",
                   (into, story_id))
        db.execute("DELETE FROM stories WHERE story_id = ?", (story_id,))

    def add_alert(self, alert: Alert,
                  position: tuple[str, int, int] | None = None) -> None:
        with self._transaction(position) as db:
            db.execute(
                """INSERT INTO alerts (subscription_id, story_id, article_id, channel,
                                       outcome, attempts, error, reasons, title, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT DO NOTHING""",
                (alert.subscription_id, alert.story_id, alert.article_id, alert.channel,
                 alert.outcome, alert.attempts, alert.error,
                 orjson.dumps(alert.reasons).decode(), alert.title,
                 alert.created_at.timestamp()))

    # -- reading -----------------------------------------------------------------------

    @staticmethod
    def _article(row: sqlite3.Row) -> ArticleRow:
        return ArticleRow(row["id"], row["story_id"], row["kind"], row["title"], row["url"],
                          row["source"], row["seen_at"], row["similarity"])

    def stream(self, *, topic: str | None = None, source: str | None = None,
               text: str | None = None, since: float | None = None,
               limit: int = 50) -> list[StreamItem]:
        """Stories newest first (by their first copy's time), each with its copy count and
        topics; filtered by topic, source, words (in any copy's title or body) and time."""
        where: list[str] = ["a.kind = 'unique'"]
        params: list[str | float] = []
        if topic:
            where.append("EXISTS (SELECT 1 FROM topics t WHERE t.article_id = a.id "
                         "AND t.topic = ?)")
            params.append(topic)
        if source:
            where.append("a.source = ?")
            params.append(source)
        if since is not None:
            where.append("a.seen_at >= ?")
            params.append(since)
        if text is not None:
            query = fts_query(text)
            if query is None:
                return []
            where.append("a.story_id IN (SELECT m.story_id FROM articles m JOIN articles_fts "
                         "ON articles_fts.rowid = m.rowid WHERE articles_fts MATCH ?)")
            params.append(query)
        rows = self._db.execute(
            f"""SELECT a.*, COALESCE(s.copy_count,
                       (SELECT COUNT(*) FROM articles c
                        WHERE c.story_id = a.story_id AND c.kind = 'copy')) AS copies
                FROM articles a LEFT JOIN stories s ON s.story_id = a.story_id
                WHERE {' AND '.join(where)}
                ORDER BY a.seen_at DESC, a.id LIMIT ?""",
            (*params, limit)).fetchall()
        topics = self._topics_of([r["id"] for r in rows])
        return [StreamItem(self._article(r), r["copies"],
                           [t.topic for t in topics.get(r["id"], [])]) for r in rows]

    def _topics_of(self, ids: list[str]) -> dict[str, list[TopicRow]]:
        found: dict[str, list[TopicRow]] = {}
        if not ids:
            return found
        marks = ",".join("?" * len(ids))
        for row in self._db.execute(
                f"SELECT * FROM topics WHERE article_id IN ({marks}) "
                "ORDER BY score DESC, topic", ids):
            found.setdefault(row["article_id"], []).append(TopicRow(
                row["topic"], row["score"], orjson.loads(row["evidence"]),
                orjson.loads(row["terms"])))
        return found

    def story(self, story_id: str) -> StoryView | None:
        """The story's origin (the copy published first, as its ``stories`` record
        names it; else the first copy dedup read), the other copies in order of
        publication, its topics and the alerts it caused; None if the store has no copy
        of it. A story merged into another stands for that one."""
        story_id = self._story_now(self._db, story_id)
        rows = self._db.execute(
            "SELECT * FROM articles WHERE story_id = ? ORDER BY seen_at, id",
            (story_id,)).fetchall()
        first = next((r for r in rows if r["kind"] == "unique"), None)
        if first is None:
            return None
        trail = self._db.execute("SELECT origin_id FROM stories WHERE story_id = ?",
                                 (story_id,)).fetchone()
        origin = next((r for r in rows if trail and r["id"] == trail[0]), first)
        view = StoryView(self._article(origin),
                         [self._article(r) for r in rows if r["id"] != origin["id"]])
        view.topics = self._topics_of([first["id"]]).get(first["id"], [])
        view.alerts = [
            AlertRow(r["subscription_id"], r["channel"], r["outcome"], r["attempts"],
                     r["error"], orjson.loads(r["reasons"]), r["created_at"])
            for r in self._db.execute(
                "SELECT * FROM alerts WHERE story_id = ? OR story_id IN (SELECT story_id "
                "FROM merged_stories WHERE into_id = ?) ORDER BY created_at, "
                "subscription_id, channel", (story_id, story_id))]
        return view

    def alert_summary(self) -> list[AlertSummary]:
        """Per subscription and channel: alerts delivered and failed, deliveries still
        being retried, the last outcome, and the reason of the last failure."""
        rows = self._db.execute(
            """SELECT subscription_id, channel,
                      SUM(outcome = 'delivered') AS delivered,
                      SUM(outcome = 'failed') AS failed,
                      MAX(created_at) AS last_at,
                      (SELECT a2.outcome FROM alerts a2
                       WHERE a2.subscription_id = a.subscription_id
                         AND a2.channel = a.channel
                       ORDER BY a2.created_at DESC LIMIT 1) AS last_outcome,
                      (SELECT a3.error FROM alerts a3
                       WHERE a3.subscription_id = a.subscription_id
                         AND a3.channel = a.channel AND a3.outcome = 'failed'
                       ORDER BY a3.created_at DESC LIMIT 1) AS last_error
               FROM alerts a GROUP BY subscription_id, channel""").fetchall()
        found = {(r["subscription_id"], r["channel"]): AlertSummary(
            r["subscription_id"], r["channel"], r["delivered"], r["failed"], 0,
            r["last_outcome"], r["last_at"], r["last_error"]) for r in rows}
        for r in self._db.execute(
                "SELECT subscription_id, channel, COUNT(*) AS n, MAX(last_error) AS error "
                "FROM retrying GROUP BY subscription_id, channel"):
            key = (r["subscription_id"], r["channel"])
            known = found.get(key)
            found[key] = AlertSummary(
                key[0], key[1], known.delivered if known else 0,
                known.failed if known else 0, r["n"],
                known.last_outcome if known else "retrying",
                known.last_at if known else None,
                (known.last_error if known and known.last_error else r["error"]))
        return [found[k] for k in sorted(found)]

    def recent_alerts(self, limit: int = 100) -> list[tuple[AlertRow, str, str]]:
        """The latest alerts, newest first, each with its story id and headline."""
        rows = self._db.execute(
            "SELECT * FROM alerts ORDER BY created_at DESC, subscription_id LIMIT ?",
            (limit,)).fetchall()
        return [(AlertRow(r["subscription_id"], r["channel"], r["outcome"], r["attempts"],
                          r["error"], orjson.loads(r["reasons"]), r["created_at"]),
                 r["story_id"], r["title"]) for r in rows]

    def trends(self, since: float, bucket: float) -> tuple[list[float], dict[str, list[int]]]:
        """Stories per topic per ``bucket`` seconds since ``since``: the buckets' start
        times, and per topic one count per bucket (empty buckets included)."""
        first = since - since % bucket
        rows = self._db.execute(
            """SELECT t.topic AS topic, CAST((a.seen_at - ?) / ? AS INTEGER) AS slot,
                      COUNT(*) AS n
               FROM topics t JOIN articles a ON a.id = t.article_id
               WHERE a.kind = 'unique' AND a.seen_at >= ?
               GROUP BY t.topic, slot""", (first, bucket, first)).fetchall()
        slots = max([int(r["slot"]) for r in rows], default=-1) + 1
        now_slots = int((time.time() - first) // bucket) + 1
        count = max(slots, now_slots)
        series: dict[str, list[int]] = {}
        for r in rows:
            series.setdefault(r["topic"], [0] * count)[int(r["slot"])] = r["n"]
        return [first + i * bucket for i in range(count)], dict(sorted(series.items()))

    def count(self) -> int:
        """How many stories the store holds."""
        return int(self._db.execute(
            "SELECT COUNT(*) FROM articles WHERE kind = 'unique'").fetchone()[0])

    def prune(self, older_than: float) -> int:
        """Forget the stories whose latest copy was fetched before ``older_than`` (seconds
        since the epoch), with their copies, topics and alerts; how many stories.
        (Fetch time, not publication time: an old article fetched today is news here.)"""
        with self._transaction() as db:
            doomed = [r[0] for r in db.execute(
                "SELECT story_id FROM articles GROUP BY story_id HAVING MAX(fetched_at) < ?",
                (older_than,))]
            for story_id in doomed:
                db.execute("DELETE FROM topics WHERE article_id IN "
                           "(SELECT id FROM articles WHERE story_id = ?)", (story_id,))
                db.execute("DELETE FROM articles WHERE story_id = ?", (story_id,))
                db.execute("DELETE FROM stories WHERE story_id = ?", (story_id,))
                db.execute("DELETE FROM alerts WHERE story_id = ?", (story_id,))
                db.execute("DELETE FROM merged_stories WHERE into_id = ?", (story_id,))
        return len(doomed)
