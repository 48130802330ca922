"""dedup's log messages: batching, chunking and decoding."""

from datetime import UTC, datetime

import orjson
import pytest

from schemas import RawArticle
from schemas.base import MessageDecodeError
from services.dedup.detector import LshParams
from services.dedup.protocol import (
    Batcher,
    DetectorParams,
    ItemTooLarge,
    Sighting,
    decode_log_message,
)

PARAMS = DetectorParams(**LshParams().tag())


def sighting(article_id: str, body: str = "text") -> Sighting:
    article = RawArticle(id=article_id, url=f"https://e.org/{article_id}", source="E",
                         body=body, fetched_at=datetime(2026, 1, 1, tzinfo=UTC))
    return Sighting(article=article, sig="AAAA", sketch="", size=9, exact="x:1", at=1.0)


def test_a_batcher_makes_one_valid_message_stamped_with_the_parameters():
    batcher = Batcher(PARAMS)
    for article_id in ("a", "b", "c"):
        batcher.add(sighting(article_id))
    (value,) = batcher.drain()
    message = decode_log_message(value)
    assert message.params == PARAMS
    assert [s.article.id for s in message.sightings] == ["a", "b", "c"]
    assert message.sightings[0] == sighting("a")
    assert list(batcher.drain()) == []  # drained


def test_a_batcher_splits_a_batch_that_outgrows_the_message_limit():
    batcher = Batcher(PARAMS, max_bytes=1200)
    for i in range(10):
        batcher.add(sighting(f"article-{i}", "word " * 40))
    sent = list(batcher.drain())
    assert len(sent) > 1
    assert all(len(value) < 2400 for value in sent)
    ids = [s.article.id for value in sent for s in decode_log_message(value).sightings]
    assert ids == [f"article-{i}" for i in range(10)]  # none lost, order kept
    with pytest.raises(ItemTooLarge, match="bytes encoded, over the 1,200 bytes"):
        batcher.add(sighting("huge", "word " * 400))


@pytest.mark.parametrize(("raw", "error"), [
    (b"", "empty message value"),
    (b'{"op": "sightings", "sightings": []}', "params: Field required"),
    (b'[1, 2]', "Input should be an object"),
    (b'{"op": "sightings",', "Invalid JSON"),
    (orjson.dumps({"op": "sightings", "params": PARAMS.model_dump(),
                   "sightings": [{"sig": "AAAA"}]}), "sightings.0.article: Field required"),
    (orjson.dumps({"op": "sightings", "schema_version": 9, "params": PARAMS.model_dump(),
                   "sightings": []}), "schema_version 9 is newer than the supported 1"),
])
def test_a_bad_log_message_says_what_is_wrong(raw, error):
    with pytest.raises(MessageDecodeError, match=error.replace("(", r"\(")):
        decode_log_message(raw)
