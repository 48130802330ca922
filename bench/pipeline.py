"""End-to-end benchmark on the real broker: ``make bench`` (or ``python -m bench.pipeline``).

Publishes N synthetic articles (a known share of them syndicated copies) to
``articles.raw`` as fast as the producer goes, with dedup, classifier and notifier running
as real processes and a local Slack receiver and SMTP server taking the alerts. Then it
reads every output topic back and reports, from the records' broker timestamps:

* articles/s end to end (first raw record to last classified one) and per stage;
* latency p50/p95/p99 from ``articles.raw`` to ``articles.classified`` and to ``alerts``
  (of a burst by default; ``--rate`` publishes at a steady rate instead);
* how many copies dedup caught and whether any article was called a copy of a story it
  does not belong to;
* each service's peak resident memory;
* datasketch's MinHashLSH timed on the same articles in this process (shingling
  included), the library a user would pick instead of dedup.

The last line of the output is one JSON object with the run's figures (also written to
``.run/bench/last.json``).

``--only classifier`` runs the classifier alone on real articles (the texts of the
labelled topic corpus, repeated under new ids) published straight to ``articles.unique``.

Before the measured articles, one warm-up article goes through every stage: a faust
service starts reading about a second after its consumer group has settled, and that
start-up (printed) is not part of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka.errors import GroupCoordinatorNotAvailableError

from bench.baseline import datasketch_per_s
from devrig.localrig import Pipeline, SlackReceiver, SmtpSink
from devrig.synthetic import SyntheticItem, stream
from schemas.article_raw import RawArticle
from schemas.article_unique import UniqueArticle
from schemas.subscription import Subscription
from schemas.topics import SUBSCRIPTIONS
from services.classifier.corpus import load_articles
from services.dedup.settings import Settings as DedupSettings
from services.topics import plan
from wirewatch.kafka import consume, group_assignment, producer
from wirewatch.topology import create_topics, delete_topics
from wirewatch_cli.subscriptions import publish as publish_subscriptions

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("dedup", "classifier", "notifier")
WARM_UP = "warmup-"  # id prefix of the warm-up article, left out of every figure
# Where an article has been through every stage, by the last stage run.
LAST_TOPIC = {"dedup": "articles.unique", "classifier": "articles.classified",
              "notifier": "alerts"}


@dataclass
class Observed:
    """Broker timestamps (ms) of each article id on each topic, first record only."""

    raw: dict[str, int] = field(default_factory=dict)
    verdict: dict[str, int] = field(default_factory=dict)
    duplicate_of: dict[str, str] = field(default_factory=dict)
    classified: dict[str, int] = field(default_factory=dict)
    alerts: list[tuple[str, int]] = field(default_factory=list)  # (article id, ts)


def percentiles(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"p50 {values[0]:.0f} ms"
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {cuts[49]:.0f} ms  p95 {cuts[94]:.0f} ms  p99 {cuts[98]:.0f} ms"


def cuts(values: Sequence[float]) -> dict[str, float] | None:
    """p50, p95 and p99 of latencies in ms, for the JSON line."""
    if not values:
        return None
    if len(values) == 1:
        return {"p50": values[0], "p95": values[0], "p99": values[0]}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(q[49], 1), "p95": round(q[94], 1), "p99": round(q[98], 1)}


def per_s(count: int, first_ms: int | None, last_ms: int | None) -> float | None:
    if not count or first_ms is None or last_ms is None:
        return None
    return round(count / (max(last_ms - first_ms, 1) / 1000), 1)


def rate(count: int, first_ms: int | None, last_ms: int | None) -> str:
    if not count or first_ms is None or last_ms is None:
        return "not run" if not count else "n/a"
    seconds = max(last_ms - first_ms, 1) / 1000
    return f"{count / seconds:,.0f} articles/s ({count} in {seconds:.1f} s)"


async def wait_ready(bootstrap: str, namespace: str, stages: Sequence[str],
                     replicas: dict[str, int]) -> None:
    """Until every stage's consumer group is settled with all its replicas."""
    deadline = time.monotonic() + 120
    for stage in stages:
        while True:
            try:
                state, members = await group_assignment(bootstrap, namespace + stage)
            except GroupCoordinatorNotAvailableError:
                # A fresh broker creates its offsets topic with the first group.
                state, members = "", []
            if state == "Stable" and len(members) == replicas.get(stage, 1):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: {stage} did not start; see its log")
            await asyncio.sleep(0.5)


async def warm_up(bootstrap: str, namespace: str, stages: Sequence[str], topic: str,
                  article: UniqueArticle | RawArticle) -> float:
    """Send one article and wait until it comes out of the last stage; the seconds it took.
    It must reach every stage: with the notifier, it names a city a subscription watches."""
    last = namespace + LAST_TOPIC[stages[-1]]
    started = time.perf_counter()
    async with producer(bootstrap) as prod:
        await prod.send_and_wait(namespace + topic, article.to_bytes(), key=article.id.encode())
    async for record in consume(bootstrap, [last], idle_timeout=60):
        data = orjson.loads(record.value or b"")
        if data.get("article_id", data.get("id")) == article.id:
            return time.perf_counter() - started
    raise SystemExit(f"bench: the warm-up article never reached {last}; see the logs")


async def publish(bootstrap: str, topic: str, items: list[SyntheticItem],
                  rate: float | None = None) -> float:
    """Send every article, as fast as the producer goes or at ``rate`` articles/s;
    returns the seconds it took."""
    started = time.perf_counter()
    async with producer(bootstrap, max_batch_size=256 * 1024) as prod:
        pending = []
        for i, item in enumerate(items):
            if rate:
                await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            article = item.article
            pending.append(await prod.send(topic, article.to_bytes(), key=article.id.encode()))
        await asyncio.gather(*pending)
    return time.perf_counter() - started


async def observe(bootstrap: str, namespace: str, total: int, idle: float) -> Observed:
    """Read raw, verdicts, classified and alerts until every article has its verdict and
    nothing new has arrived for ``idle`` seconds."""
    seen = Observed()
    topics = {namespace + t: t for t in ("articles.raw", "articles.unique",
                                         "articles.duplicates", "articles.classified", "alerts")}
    async for record in consume(bootstrap, list(topics), idle_timeout=idle):
        topic, value, ts = topics[record.topic], record.value or b"", record.timestamp
        data = orjson.loads(value)
        article_id = data["article_id"] if topic == "alerts" else data["id"]
        if article_id.startswith(WARM_UP):
            continue
        if topic == "alerts":
            seen.alerts.append((article_id, ts))
            continue
        if topic == "articles.raw":
            seen.raw.setdefault(article_id, ts)
        elif topic == "articles.classified":
            seen.classified.setdefault(article_id, ts)
        else:
            seen.verdict.setdefault(article_id, ts)
            if topic == "articles.duplicates":
                seen.duplicate_of.setdefault(article_id, data["duplicate_of"])
    if len(seen.verdict) < total:
        print(f"bench: only {len(seen.verdict)} of {total} articles got a verdict", file=sys.stderr)
    return seen


def corpus_items(count: int) -> list[SyntheticItem]:
    """``count`` unique articles with the topic corpus's real texts, cycled."""
    articles = load_articles()
    now = datetime.now(UTC)
    items = []
    for i in range(count):
        a = articles[i % len(articles)]
        items.append(SyntheticItem(UniqueArticle(
            id=f"bc-{i:06d}", url=a.url or f"https://corpus.example/{a.id}", source=a.source,
            title=a.title, body=a.body, fetched_at=now, story_id=f"bc-{i:06d}")))
    return items


def copy_outcomes(items: list[SyntheticItem], seen: Observed) -> tuple[int, int, int]:
    """Copies expected, caught and wrongly called. Every story has one first copy and the
    rest are duplicates of it. Which member is read first may differ from the publishing
    order when copies race, so a duplicate is right when it points into its own story,
    wrong otherwise."""
    story = {i.article.id: i.copy_of or i.article.id for i in items}
    caught = sum(1 for a, of in seen.duplicate_of.items() if story.get(of) == story[a])
    return (sum(1 for i in items if i.copy_of), caught, len(seen.duplicate_of) - caught)


def summary(items: list[SyntheticItem], seen: Observed, stages: Sequence[str],
            rss_growth: dict[str, float], baseline_per_s: float | None) -> dict[str, object]:
    """The run in one JSON-ready mapping (printed as the benchmark's last line)."""
    expected, caught, wrong = copy_outcomes(items, seen)
    entered = seen.raw or seen.verdict
    first_in = min(entered.values())
    unique_ts = {a: ts for a, ts in seen.verdict.items() if a not in seen.duplicate_of}
    outputs = [*seen.verdict.values(), *seen.classified.values(), *(t for _, t in seen.alerts)]
    first_classified = min(seen.classified.values(), default=None)
    dedup_per_s = per_s(len(seen.verdict), first_in, max(seen.verdict.values(), default=None))
    out: dict[str, object] = {
        "articles": len(items),
        "stages": list(stages),
        "end_to_end_per_s": per_s(len(items), first_in, max(outputs, default=None)),
        "dedup_per_s": dedup_per_s if "dedup" in stages else None,
        "classifier_per_s": per_s(len(seen.classified),
                                  min(seen.verdict.values(), default=None) if seen.raw
                                  else first_in, max(seen.classified.values(), default=None)),
        "alerts_per_s": per_s(len(seen.alerts), first_classified,
                              max((t for _, t in seen.alerts), default=None)),
        "latency_ms": {
            "raw_to_unique": cuts([ts - entered[a] for a, ts in unique_ts.items()
                                   if a in seen.raw]),
            "raw_to_classified": cuts([ts - entered[a] for a, ts in seen.classified.items()
                                       if a in entered]),
            "raw_to_alert": cuts([ts - entered[a] for a, ts in seen.alerts if a in entered]),
        },
        "copies_expected": expected,
        "copies_caught": caught,
        "false_copies": wrong,
        "dedup_rss_bytes_per_article": round(rss_growth["dedup"] * 1e6 / len(items))
        if "dedup" in rss_growth else None,
        "datasketch_per_s": round(baseline_per_s, 1) if baseline_per_s else None,
        "dedup_vs_datasketch": round(dedup_per_s / baseline_per_s, 3)
        if dedup_per_s and baseline_per_s and "dedup" in stages else None,
    }
    return out


def report(items: list[SyntheticItem], seen: Observed, publish_s: float,
           stages: Sequence[str], replicas: dict[str, int],
           memory: dict[str, float]) -> dict[str, str]:
    copies, caught, wrong = copy_outcomes(items, seen)
    # With the classifier alone the articles enter at articles.unique.
    entered = seen.raw or seen.verdict
    first_raw = min(entered.values())
    first_verdict, last_verdict = min(seen.verdict.values()), max(seen.verdict.values())
    first_classified = min(seen.classified.values(), default=None)
    last_classified = max(seen.classified.values(), default=None)
    last_alert = max((ts for _, ts in seen.alerts), default=None)
    classified_lat = [seen.classified[a] - entered[a] for a in seen.classified if a in entered]
    alert_lat = [ts - entered[a] for a, ts in seen.alerts if a in entered]
    lines = {
        "articles": f"{len(items)} ({copies} syndicated copies)",
        "replicas": ", ".join(f"{s}={replicas.get(s, 1)}" for s in stages),
        "publish": rate(len(items), 0, int(publish_s * 1000)),
        "end to end (raw -> classified)": rate(len(seen.verdict) if seen.classified else 0,
                                              first_raw, last_classified),
        "dedup (raw -> verdict)": rate(len(seen.verdict), first_raw, last_verdict),
        "classifier (-> classified)": rate(len(seen.classified), first_verdict,
                                           last_classified),
        "notifier (-> alerts)": rate(len(seen.alerts), first_classified, last_alert),
        "latency in -> classified": percentiles(classified_lat),
        "latency raw -> alerts": percentiles(alert_lat),
        "copies caught": f"{caught} of {copies} ({caught / max(copies, 1):.1%})",
        "wrongly called copies": str(wrong),
        "alerts": str(len(seen.alerts)),
        "peak memory": ", ".join(f"{name} {mb:.0f} MB" for name, mb in memory.items()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
    }
    if "dedup" not in stages:
        for key in ("end to end (raw -> classified)", "dedup (raw -> verdict)",
                    "copies caught", "wrongly called copies"):
            del lines[key]
        words = sum(len(i.article.body.split()) for i in items)
        lines["words per article"] = f"{words / len(items):.0f}"
    if "notifier" not in stages:
        for key in ("notifier (-> alerts)", "latency raw -> alerts", "alerts"):
            del lines[key]
    width = max(map(len, lines))
    for name, value in lines.items():
        print(f"  {name:<{width}}  {value}")
    return lines


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--articles", type=int, default=5000)
    parser.add_argument("--copy-share", type=float, default=0.3)
    parser.add_argument("--rate", type=float, default=None, metavar="ARTICLES_PER_S",
                        help="publish at this steady rate instead of all at once")
    parser.add_argument("--replicas", nargs="*", default=[], metavar="SERVICE=N")
    parser.add_argument("--stages", type=int, choices=(1, 2, 3), default=3,
                        help="run only the first 1 (dedup) or 2 (dedup, classifier) stages, "
                             "to measure a stage with the machine to itself")
    parser.add_argument("--only", choices=("classifier",), default=None,
                        help="run the classifier alone on real article texts (the topic "
                             "corpus) published straight to articles.unique")
    parser.add_argument("--bootstrap", default=os.environ.get("WIREWATCH_BOOTSTRAP_SERVERS",
                                                              "127.0.0.1:9092"))
    args = parser.parse_args(argv)
    replicas = {k: int(v) for k, v in (r.split("=", 1) for r in args.replicas)}
    stages = (args.only,) if args.only else STAGES[: args.stages]
    run_dir = ROOT / ".run" / "bench"
    namespace = f"bench{int(time.time())}."
    await create_topics(args.bootstrap, plan(), namespace)
    probe: UniqueArticle | RawArticle
    if args.only == "classifier":
        items, source_topic = corpus_items(args.articles), "articles.unique"
        probe = items[0].article.model_copy(update={"id": WARM_UP + "0",
                                                    "story_id": WARM_UP + "0"})
    else:
        items = stream(args.articles, copy_share=args.copy_share, seed=2026, prefix="b")
        source_topic = "articles.raw"
        (first,) = stream(1, copy_share=0, seed=1, prefix=WARM_UP.rstrip("-"))
        probe = first.article.model_copy(update={"title": "Kyiv: " + first.article.title})
    slack, smtp = SlackReceiver(), SmtpSink()
    await slack.start()
    smtp.start()
    # As `wirewatch subscriptions import` does: the notifier reads them from the topic.
    await publish_subscriptions(args.bootstrap, namespace + SUBSCRIPTIONS.name, [
        Subscription.model_validate(
            {"name": "cities", "channels": {"slack": slack.url("cities")},
             "rules": {"keywords": ["Kyiv", "Kharkiv", "Odesa"]}}),
        Subscription.model_validate(
            {"name": "energy", "channels": {"email": "energy@example.org"},
             "rules": {"topics": ["energy"]}}),
    ])
    pipeline = Pipeline({
        "WIREWATCH_BOOTSTRAP_SERVERS": args.bootstrap, "WIREWATCH_NAMESPACE": namespace,
        "WIREWATCH_DATA_DIR": str(run_dir / "data"), "WIREWATCH_LOG_LEVEL": "WARNING",
        "NOTIFIER_SMTP_PORT": str(smtp.port),
    }, run_dir / "logs", replicas)
    try:
        pipeline.start(only=stages)
        print(f"bench: waiting for {', '.join(stages)} (logs in {run_dir / 'logs'})")
        await wait_ready(args.bootstrap, namespace, stages, replicas)
        took = await warm_up(args.bootstrap, namespace, stages, source_topic, probe)
        print(f"bench: a warm-up article went through {', '.join(stages)} in {took:.1f} s")
        # Each replica's peak so far is its start-up; growth beyond it is the run's state.
        at_start = {p.log_path.stem: mb for p in pipeline.processes
                    if (mb := p.peak_rss_mb()) is not None}
        print(f"bench: publishing {len(items)} articles to {namespace}{source_topic}")
        publish_s = await publish(args.bootstrap, namespace + source_topic, items, args.rate)
        seen = await observe(args.bootstrap, namespace, len(items), idle=10.0)
        memory = {p.log_path.stem: mb for p in pipeline.processes
                  if (mb := p.peak_rss_mb()) is not None}
        if pipeline.dead():
            print(f"bench: a service died: {[p.log_path for p in pipeline.dead()]}",
                  file=sys.stderr)
            return 1
        print("bench: results")
        report(items, seen, publish_s, stages, replicas, memory)
        growth: dict[str, float] = {}
        for name, mb in memory.items():
            stage = name.rsplit("-", 1)[0]
            growth[stage] = growth.get(stage, 0.0) + max(0.0, mb - at_start.get(name, mb))
        baseline = None
        if "dedup" in stages:
            print("bench: timing datasketch's MinHashLSH on the same articles")
            baseline = datasketch_per_s([i.article for i in items],
                                        DedupSettings().lsh_params())
            print(f"  datasketch MinHashLSH (in-process)  {baseline:,.0f} articles/s")
        result = summary(items, seen, stages, growth, baseline)
        (run_dir / "last.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        print(orjson.dumps(result).decode())
        complete = len(seen.verdict) == len(items)
        if args.only == "classifier":
            complete = len(seen.classified) == len(items)
        if "notifier" in stages and not seen.alerts:
            # About 30 % of the articles match a subscription: none means a broken run.
            print("bench: no alert arrived", file=sys.stderr)
            complete = False
        return 0 if complete else 1
    finally:
        await pipeline.stop()
        await slack.stop()
        smtp.stop()
        await delete_topics(args.bootstrap, namespace)


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
