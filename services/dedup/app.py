"""dedup's Kafka wiring: three stages in one faust app.

1. ``fingerprint_articles`` reads ``articles.raw`` (key: article id), computes the MinHash
   signature and sends the article to ``dedup.votes`` and one registration per band key
   to ``dedup.bands``.
2. ``index_bands`` reads ``dedup.bands`` (key: band key). Its table holds, per band key,
   the articles seen under it in arrival order; it answers each registration with the
   earlier copies found there.
3. ``decide_articles`` reads ``dedup.votes`` (key: article id), waits for every band's
   answer and publishes to ``articles.unique`` or ``articles.duplicates``.

Because a band key always lives on one partition, two copies that arrived on different
partitions of ``articles.raw`` (or at different replicas) still meet in stage 2.
"""

from __future__ import annotations

import logging
import time

import faust

from schemas.article_raw import RawArticle
from schemas.topics import ARTICLES_DUPLICATES, ARTICLES_RAW, ARTICLES_UNIQUE
from services.dedup.logic import EXACT_BAND, BandEntry, fingerprint, match_in_band
from services.dedup.protocol import (
    BandRegister,
    BandStory,
    VoteArticle,
    decode_band_message,
    decode_vote_message,
)
from services.dedup.settings import Settings
from services.dedup.verdicts import Pending, Verdict, render, reply
from wirewatch.logs import fields
from wirewatch.streaming import ErrorPolicy, ProcessingError, make_app
from wirewatch.topology import DEDUP_BANDS, DEDUP_VOTES, plan

__all__ = ["SERVICE", "create_app"]

SERVICE = "dedup"
log = logging.getLogger("wirewatch.dedup")


def _partitions(name: str) -> int:
    return next(t.partitions for t in plan() if t.name == name)


def create_app(settings: Settings) -> faust.App:
    """Build the dedup faust app: topics, tables and agents."""
    params = settings.lsh_params()
    max_age = settings.retention_days * 86400
    app = make_app(SERVICE, settings)
    policy = ErrorPolicy(app, settings)

    raw_topic = app.topic(settings.topic(ARTICLES_RAW.name), value_type=bytes)
    bands_topic = app.topic(settings.topic(DEDUP_BANDS), value_type=bytes,
                            partitions=_partitions(DEDUP_BANDS))
    votes_topic = app.topic(settings.topic(DEDUP_VOTES), value_type=bytes,
                            partitions=_partitions(DEDUP_VOTES))
    unique_topic = app.topic(settings.topic(ARTICLES_UNIQUE.name), value_type=bytes)
    duplicates_topic = app.topic(settings.topic(ARTICLES_DUPLICATES.name), value_type=bytes)

    band_table = app.Table("bands", partitions=_partitions(DEDUP_BANDS), value_type=bytes)
    pending_table = app.Table("pending", partitions=_partitions(DEDUP_VOTES), value_type=bytes)
    verdict_table = app.Table("verdicts", partitions=_partitions(DEDUP_VOTES), value_type=bytes)

    async def fingerprint_one(key: bytes | None, value: bytes) -> None:
        article = RawArticle.from_bytes(value)
        fp = fingerprint(article.body, params)
        await votes_topic.send(
            key=article.id.encode(),
            value=VoteArticle(article=article, band_keys=list(fp.band_keys)).to_bytes(),
        )
        if not fp.band_keys:
            return
        entry = BandEntry(article.id, fp.signature_b64(), fp.size, fp.band_keys[-1], time.time())
        for band, band_key in enumerate(fp.band_keys):
            number = EXACT_BAND if band == params.bands else band
            await bands_topic.send(
                key=band_key.encode(),
                value=BandRegister(band=number, entry=entry.to_json()).to_bytes(),
            )

    async def index_one(key: bytes | None, value: bytes) -> None:
        if not key:
            raise ProcessingError("band message without a key")
        message = decode_band_message(value)
        band_key = key.decode()
        stored = band_table.get(band_key)
        entries = [BandEntry.from_json(e) for e in _loads_list(stored)]
        if isinstance(message, BandStory):
            for entry in entries:
                if entry.article_id == message.article_id:
                    entry.story_id = message.story_id
            band_table[band_key] = _dumps_list(entries)
            return
        assert isinstance(message, BandRegister)
        try:
            new = BandEntry.from_json(message.entry)
        except (KeyError, TypeError) as exc:
            raise ProcessingError(f"band entry is incomplete: {exc!r}") from exc
        result = match_in_band(entries, new, message.band, params, now=time.time(),
                               max_age=max_age, max_entries=settings.max_entries_per_band)
        band_table[band_key] = _dumps_list(result.entries)
        await votes_topic.send(
            key=new.article_id.encode(),
            value=reply(new.article_id, message.band, result.matches).to_bytes(),
        )

    async def publish(article: RawArticle, verdict: Verdict) -> None:
        out = render(article, verdict)
        topic = unique_topic if verdict.original is None else duplicates_topic
        await topic.send(key=article.id.encode(), value=out.to_bytes())

    async def decide_one(key: bytes | None, value: bytes) -> None:
        vote = decode_vote_message(value)
        article_id = vote.article.id if isinstance(vote, VoteArticle) else vote.article_id
        decided = verdict_table.get(article_id)
        if decided is not None:
            # A redelivery or a re-sent article: give the same answer again, never a new one.
            if isinstance(vote, VoteArticle):
                await publish(vote.article, Verdict.from_bytes(decided))
            return
        pending = Pending.from_bytes(pending_table.get(article_id))
        pending.add(vote)
        if not pending.complete:
            pending_table[article_id] = pending.to_bytes()
            return
        assert pending.article is not None
        article = RawArticle.model_validate(pending.article)
        verdict = pending.decide()
        await publish(article, verdict)
        verdict_table[article_id] = verdict.to_bytes()
        if article_id in pending_table:
            del pending_table[article_id]
        if verdict.original is None:
            log.info("unique article", extra=fields(article_id=article_id, source=article.source))
            return
        log.info(
            "duplicate removed",
            extra=fields(article_id=article_id, source=article.source,
                         duplicate_of=verdict.original.story_id,
                         similarity=round(verdict.original.similarity, 3)),
        )
        story = BandStory(article_id=article_id, story_id=verdict.original.story_id).to_bytes()
        for band_key in pending.band_keys:
            await bands_topic.send(key=band_key.encode(), value=story)

    @app.agent(raw_topic, name="fingerprint_articles")
    async def fingerprint_articles(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await policy.run(event, "dedup.fingerprint", fingerprint_one)

    @app.agent(bands_topic, name="index_bands")
    async def index_bands(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await policy.run(event, "dedup.bands", index_one)

    @app.agent(votes_topic, name="decide_articles")
    async def decide_articles(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await policy.run(event, "dedup.decide", decide_one)

    return app


def _loads_list(raw: bytes | None) -> list[dict[str, object]]:
    import orjson

    return orjson.loads(raw) if raw else []


def _dumps_list(entries: list[BandEntry]) -> bytes:
    import orjson

    return orjson.dumps([e.to_json() for e in entries])
