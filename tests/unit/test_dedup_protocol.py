"""dedup's batch messages: partitions, chunking and decoding."""

from datetime import UTC, datetime

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from schemas import RawArticle
from schemas.base import MessageDecodeError
from services.dedup.protocol import (
    BandRegister,
    BandStory,
    Batcher,
    Entry,
    Registration,
    StoryMark,
    VoteArticle,
    VoteArticles,
    VoteReplies,
    VoteReply,
    decode_band_message,
    decode_vote_message,
    partition_for,
)


def test_partition_for_agrees_with_the_producers_default_partitioner():
    # faust writes a use_partitioner table key where this partitioner puts it, so a key's
    # messages and its table state must land on the same partition.
    partitioner = DefaultPartitioner()
    for n in (4, 8):
        partitions = list(range(n))
        for key in ("3:9f1c2a", "x:00ff", "article-17", "Київ"):
            assert partition_for(key, n) == partitioner(key.encode(), partitions, partitions)


def test_a_batcher_groups_items_by_partition_into_valid_messages():
    batcher = Batcher(BandRegister, "registrations")
    entry = Entry(id="a", sig="AAAA", sketch="", size=9, exact="x:1", at=1.0)
    batcher.add(3, Registration(entry=entry, bands=[(0, "0:aa"), (5, "5:bb")]))
    batcher.add(1, Registration(entry=entry.model_copy(update={"id": "b"}),
                                bands=[(-1, "x:1")]))
    batcher.add(3, Registration(entry=entry.model_copy(update={"id": "c"}),
                                bands=[(2, "2:cc")]))
    sent = dict(batcher.drain())
    assert sorted(sent) == [1, 3]
    message = decode_band_message(sent[3])
    assert isinstance(message, BandRegister)
    assert [r.entry.id for r in message.registrations] == ["a", "c"]
    assert message.registrations[0].bands == [(0, "0:aa"), (5, "5:bb")]
    assert list(batcher.drain()) == []  # drained


def test_a_batcher_splits_a_partition_that_outgrows_the_message_limit():
    batcher = Batcher(VoteReplies, "replies", max_bytes=200)
    for i in range(10):
        batcher.add(0, VoteReply(article_id=f"article-{i}",
                                 bands=[i], matches=[]))
    sent = list(batcher.drain())
    assert len(sent) > 1
    assert all(partition == 0 for partition, _ in sent)
    assert all(len(value) < 400 for _, value in sent)
    replies = [r for _, value in sent
               for r in decode_vote_message(value).replies]  # type: ignore[union-attr]
    assert [r.bands[0] for r in replies] == list(range(10))  # none lost, order kept


def test_batches_of_articles_and_story_marks_decode_to_their_kinds():
    article = RawArticle(id="a", url="https://e.org/a", source="E", body="text",
                         fetched_at=datetime(2026, 1, 1, tzinfo=UTC))
    articles = Batcher(VoteArticles, "articles")
    articles.add(0, VoteArticle(article=article, band_keys=["0:aa"]))
    (_, value), = articles.drain()
    decoded = decode_vote_message(value)
    assert isinstance(decoded, VoteArticles)
    assert decoded.articles[0].article == article
    stories = Batcher(BandStory, "marks")
    mark = StoryMark(article_id="b", story_id="a", band_keys=["0:aa"])
    stories.add(2, mark)
    (_, value), = stories.drain()
    assert decode_band_message(value) == BandStory(marks=[mark])


@pytest.mark.parametrize(("raw", "error"), [
    (b'{"op": "register", "band": 1}', "registrations: Field required"),
    (b'{"op": "shout"}', "tag 'shout' found using 'op' does not match any of the expected "
                        "tags: 'register', 'story'"),
    (b'[1, 2]', "Input should be an object"),
    (b'{"op": "register",', "Invalid JSON"),
    (orjson.dumps({"op": "register", "registrations": [{"entry": {"id": "a"}, "bands": []}]}),
     "registrations.0.entry.sig: Field required"),
])
def test_a_bad_band_message_says_what_is_wrong(raw, error):
    with pytest.raises(MessageDecodeError, match=error.replace("(", r"\(")):
        decode_band_message(raw)


def test_a_vote_message_with_an_unknown_op_is_refused():
    with pytest.raises(MessageDecodeError,
                       match="tag 'reply' found using 'op' does not match"):
        decode_vote_message(b'{"op": "reply", "article_id": 5}')
