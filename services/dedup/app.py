"""dedup's Kafka wiring: three stages in one faust app.

1. ``fingerprint_articles`` reads ``articles.raw`` (key: article id), computes the MinHash
   signature and sends the article to ``dedup.votes`` and one registration per band key
   to ``dedup.bands``.
2. ``index_bands`` reads ``dedup.bands`` (key: band key). Its table holds, per band key,
   the articles seen under it in arrival order; it answers each registration with the
   earlier copies found there.
3. ``decide_articles`` reads ``dedup.votes`` (key: article id), waits for every band's
   answer and publishes to ``articles.unique`` or ``articles.duplicates``. When the
   earlier copy it matched has no story recorded in the band yet (it was itself being
   decided), it asks that copy's partition over the same topic (see ``Pending``).

Because a band key always lives on one partition, two copies that arrived on different
partitions of ``articles.raw`` (or at different replicas) still meet in stage 2.
"""

from __future__ import annotations

import logging
import time

import faust
import orjson

from schemas.article_raw import RawArticle
from schemas.topics import ARTICLES_DUPLICATES, ARTICLES_RAW, ARTICLES_UNIQUE
from services.dedup.logic import EXACT_BAND, BandEntry, fingerprint, match_in_band
from services.dedup.protocol import (
    BandRegister,
    BandStory,
    VoteAnswer,
    VoteArticle,
    VoteAsk,
    decode_band_message,
    decode_vote_message,
)
from services.dedup.settings import Settings
from services.dedup.verdicts import Pending, Verdict, answer_for, render, reply
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
        article_id = (vote.article.id if isinstance(vote, VoteArticle)
                      else vote.target if isinstance(vote, VoteAsk) else vote.article_id)
        decided = verdict_table.get(article_id)
        if decided is not None:
            verdict = Verdict.from_bytes(decided)
            if isinstance(vote, VoteArticle):
                # A redelivery or a re-sent article: the same answer again, never a new one.
                await publish(vote.article, verdict)
            elif isinstance(vote, VoteAsk):
                await send_vote(answer_for(verdict, article_id, vote.asker))
            return
        pending = Pending.from_bytes(pending_table.get(article_id))
        now = time.time()
        if isinstance(vote, VoteAsk):
            step = pending.on_ask(vote.asker, article_id)
        elif isinstance(vote, VoteAnswer):
            step = pending.on_answer(vote, now)
        else:
            step = pending.add(vote, now)
        for answer in step.answers:
            await send_vote(answer)
        if step.ask is not None:
            await votes_topic.send(key=step.ask.target.encode(), value=step.ask.to_bytes())
        if step.verdict is None:
            pending_table[article_id] = pending.to_bytes()
            return
        await conclude(pending, step.verdict)

    async def send_vote(answer: VoteAnswer) -> None:
        await votes_topic.send(key=answer.article_id.encode(), value=answer.to_bytes())

    async def conclude(pending: Pending, verdict: Verdict) -> None:
        assert pending.article is not None
        article = RawArticle.model_validate(pending.article)
        await publish(article, verdict)
        verdict_table[article.id] = verdict.to_bytes()
        if article.id in pending_table:
            del pending_table[article.id]
        if verdict.original is None:
            log.info("unique article", extra=fields(article_id=article.id, source=article.source))
            return
        log.info(
            "duplicate removed",
            extra=fields(article_id=article.id, source=article.source,
                         duplicate_of=verdict.original.story_id,
                         similarity=round(verdict.original.similarity, 3)),
        )
        # Later copies that meet this one in a band learn the story there, without asking.
        story = BandStory(article_id=article.id, story_id=verdict.story_id or article.id)
        for band_key in pending.band_keys:
            await bands_topic.send(key=band_key.encode(), value=story.to_bytes())

    @app.timer(settings.ask_retry)  # type: ignore[untyped-decorator]
    async def retry_lookups() -> None:
        """Ask again for stories whose answer has not come: a crash can lose either."""
        now = time.time()
        try:
            for raw in list(pending_table.values()):
                ask = Pending.from_bytes(raw).retry(now, after=settings.ask_retry)
                if ask is not None:
                    await votes_topic.send(key=ask.target.encode(), value=ask.to_bytes())
        except Exception:
            log.exception("repeating story lookups failed")

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
    return orjson.loads(raw) if raw else []


def _dumps_list(entries: list[BandEntry]) -> bytes:
    return orjson.dumps([e.to_json() for e in entries])
