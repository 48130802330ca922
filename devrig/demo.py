"""``wirewatch demo``: the whole pipeline on the local broker, narrated as it runs.

Serves the bundled demo feeds over local HTTP, starts the four services as processes,
prints what is fetched, which copies are removed, which topics are given and which alerts
reach the local Slack receiver and SMTP server, then prints a summary and stops it all.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import yaml

from devrig.localrig import SERVICES, FeedServer, Pipeline, SlackReceiver, SmtpSink, free_port
from schemas.alert import Alert
from schemas.article_classified import ClassifiedArticle
from schemas.article_duplicate import DuplicateArticle
from schemas.article_raw import RawArticle
from schemas.deadletter import DeadLetter
from schemas.story import Story
from schemas.topics import (
    ALERTS,
    ARTICLES_CLASSIFIED,
    ARTICLES_DUPLICATES,
    ARTICLES_RAW,
    ARTICLES_UNIQUE,
    DEADLETTERS,
    STORIES,
    SUBSCRIPTIONS,
)
from services.notifier.subscriptions import load_subscriptions
from services.topics import plan
from wirewatch.kafka import consume
from wirewatch.topology import create_topics, delete_topics
from wirewatch_cli.subscriptions import publish as publish_subscriptions

__all__ = ["DEMO_DIR", "run_demo"]

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / "demo"
FEEDS = {"wire-a.xml": "Wire A", "daily-b.xml": "Daily B", "regional-c.xml": "Regional C"}


def _say(kind: str, text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {kind:<10} {text}", flush=True)


async def run_demo(bootstrap: str, run_dir: Path, timeout: float = 150.0) -> int:
    """Run the demo; return 0 when the expected alerts arrived, 1 otherwise."""
    namespace = f"demo{int(time.time())}."
    run_dir.mkdir(parents=True, exist_ok=True)
    await create_topics(bootstrap, plan(), namespace)
    # As `wirewatch subscriptions import` does; the notifier expands the ${VAR}s below.
    await publish_subscriptions(bootstrap, namespace + SUBSCRIPTIONS.name,
                                load_subscriptions(ROOT / "config" / "subscriptions.demo.yaml"))
    feeds, slack, smtp = FeedServer(), SlackReceiver(), SmtpSink()
    web_port, web_token = free_port(), secrets.token_urlsafe(16)
    await feeds.start()
    await slack.start()
    smtp.start()
    feed_list = [{"url": feeds.put(name, (DEMO_DIR / "feeds" / name).read_bytes()),
                  "source": source, "interval": 5} for name, source in FEEDS.items()]
    feeds_file = run_dir / "feeds.yaml"
    feeds_file.write_text(yaml.safe_dump({"feeds": feed_list}), encoding="utf-8")
    env = {
        "WIREWATCH_BOOTSTRAP_SERVERS": bootstrap,
        "WIREWATCH_NAMESPACE": namespace,
        "WIREWATCH_DATA_DIR": str(run_dir / "data"),
        "FETCHER_FEEDS": str(feeds_file),
        "FETCHER_ALLOW_PRIVATE_NETWORKS": "true",  # the demo feeds are served on 127.0.0.1
        "NOTIFIER_SMTP_PORT": str(smtp.port),
        "DEMO_SLACK_ENERGY": slack.url("energy"),
        "DEMO_SLACK_FRONT": slack.url("front"),
        "WEB_PORT": str(web_port),
        "WEB_TOKEN": web_token,
    }
    pipeline = Pipeline(env, run_dir / "logs")
    print(f"wirewatch demo: namespace {namespace!r}, feeds on 127.0.0.1:{feeds.port}, "
          f"Slack receiver on :{slack.port}, SMTP on :{smtp.port}")
    print(f"service logs: {run_dir / 'logs'}")
    print(f"web view: http://127.0.0.1:{web_port}/ (token {web_token}) while the demo runs")
    pipeline.start((*SERVICES, "web"))
    counts: Counter[str] = Counter()
    seen: set[tuple[str, bytes]] = set()
    topics = {namespace + t.name: t for t in (ARTICLES_RAW, ARTICLES_UNIQUE, ARTICLES_DUPLICATES,
                                              ARTICLES_CLASSIFIED, STORIES, ALERTS,
                                              DEADLETTERS)}
    titles: dict[str, str] = {}
    # See config/subscriptions.demo.yaml and demo/stories.py.
    expected_alerts, expected_articles, expected_republished = 5, 8, 3
    republished: set[str] = set()

    async def narrate() -> None:
        async for record in consume(bootstrap, list(topics), idle_timeout=None):
            spec = topics[record.topic]
            value = record.value or b""
            # At-least-once: an article's record may come twice; tell it once. Alerts and
            # dead letters are not keyed by article, so there the whole record counts.
            keyed_by_article = spec not in (ALERTS, DEADLETTERS, STORIES)
            identity = (spec.name, record.key if keyed_by_article and record.key else value)
            if identity in seen:
                continue
            seen.add(identity)
            counts[spec.name] += 1
            if spec is ARTICLES_RAW:
                raw = RawArticle.from_bytes(value)
                titles[raw.id] = raw.title or raw.body[:60] + "…"
                _say("fetched", f"[{raw.source}] {titles[raw.id]}")
            elif spec is ARTICLES_DUPLICATES:
                dup = DuplicateArticle.from_bytes(value)
                _say("duplicate", f"[{dup.source}] {titles.get(dup.id, dup.id)} = copy of "
                     f"“{titles.get(dup.duplicate_of, dup.duplicate_of)}” "
                     f"(similarity {dup.similarity:.2f})")
            elif spec is ARTICLES_CLASSIFIED:
                art = ClassifiedArticle.from_bytes(value)
                tags = ", ".join(f"{t.id} {t.score:.2f}" for t in art.topics) or "no topic"
                _say("topics", f"{titles.get(art.id, art.title)}: {tags}")
                for tag in art.topics:
                    if tag.evidence:
                        _say("", f"  {tag.id} because “{tag.evidence[0]}”")
            elif spec is ALERTS:
                alert = Alert.from_bytes(value)
                counts[f"alert-{alert.outcome}"] += 1
                _say("alert", f"{alert.subscription_id} → {alert.channel} {alert.outcome}: "
                     f"{alert.title or titles.get(alert.article_id, '')} "
                     f"({'; '.join(alert.reasons)})")
            elif spec is STORIES:
                story = Story.from_bytes(value)
                if story.merged_into:
                    republished.discard(story.story_id)
                    _say("story", f"story {story.story_id} is part of {story.merged_into}: "
                         "a later article copied both")
                elif story.copy_count:
                    republished.add(story.story_id)
                    outlets = list(dict.fromkeys(m.source for m in (story.origin, *story.copies)))
                    first = story.origin
                    when = (first.published_at or first.fetched_at).strftime("%d %b %H:%M")
                    _say("story", f"“{first.title or titles.get(first.article_id, '')}” "
                         f"republished by {story.source_count} outlets: {', '.join(outlets)} "
                         f"(first published by {first.source}, {when})")
            elif spec is DEADLETTERS:
                letter = DeadLetter.from_bytes(value)
                _say("deadletter", f"{letter.stage}: {letter.error}")
            decided = counts["articles.unique"] + counts["articles.duplicates"]
            if (counts["alerts"] >= expected_alerts and counts["articles.classified"] >= 5
                    and decided >= expected_articles
                    and len(republished) >= expected_republished):
                return

    async def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not pipeline.dead():
            await asyncio.sleep(0.5)

    tasks = [asyncio.create_task(narrate()), asyncio.create_task(watch())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        web_stories = await _web_stories(web_port, web_token, counts["articles.unique"])
        dead = pipeline.dead()
        await pipeline.stop()
        await feeds.stop()
        await slack.stop()
        smtp.stop()
        await delete_topics(bootstrap, namespace)
    for proc in dead:
        print(f"demo: {proc.name} stopped unexpectedly; see {proc.log_path}", file=sys.stderr)
    print("\nsummary")
    print(f"  fetched            {counts['articles.raw']}")
    print(f"  unique             {counts['articles.unique']}")
    print(f"  duplicates removed {counts['articles.duplicates']}")
    print(f"  stories republished {len(republished)} (topic stories)")
    print(f"  classified         {counts['articles.classified']}")
    print(f"  alerts delivered   {counts['alert-delivered']} "
          f"(Slack receiver got {len(slack.received)}, SMTP server got {len(smtp.messages)})")
    print(f"  dead letters       {counts['deadletters']}")
    print(f"  web view           {web_stories}")
    ok = counts["alert-delivered"] >= expected_alerts
    print("demo finished" if ok else "demo did not see every expected alert; see the logs")
    return 0 if ok else 1


async def _web_stories(port: int, token: str, expected: int, timeout: float = 15.0) -> str:
    """What the web view's API holds once it has the stories dedup found, in words."""
    url = f"http://127.0.0.1:{port}/api/stories"
    held: list[object] = []
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
        for _ in range(int(timeout * 10)):
            try:
                response = await client.get(url)
                held = response.json() if response.status_code == 200 else held
            except httpx.TransportError:
                pass
            if len(held) >= expected:
                break
            await asyncio.sleep(0.1)
    return f"{len(held)} stories served by GET /api/stories"


def main(bootstrap: str, run_dir: Path) -> int:
    return asyncio.run(run_demo(bootstrap, run_dir))
