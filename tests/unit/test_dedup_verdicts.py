"""The decide stage's state machine: band replies, then the story of the matched copy."""

from datetime import UTC, datetime

from schemas import RawArticle
from services.dedup.protocol import (
    MatchOut,
    VoteAnswer,
    VoteArticle,
    VoteAsk,
    VoteReply,
    decode_vote_message,
)
from services.dedup.verdicts import MAX_HOPS, Pending, Verdict, answer_for, render


def article(article_id: str) -> RawArticle:
    return RawArticle(id=article_id, url=f"https://e.org/{article_id}", source="E",
                      body="text", fetched_at=datetime(2026, 1, 1, tzinfo=UTC))


def band_reply(article_id: str, band: int, matches: list[MatchOut]) -> VoteReply:
    return VoteReply(article_id=article_id, bands=[band], matches=matches)


def arrive(pending: Pending, article_id: str, replies: dict[int, list[MatchOut]]):
    steps = [pending.add(VoteArticle(article=article(article_id), band_keys=["k"] * len(replies)))]
    for band, matches in replies.items():
        steps.append(pending.add(band_reply(article_id, band, matches)))
    return steps


def test_no_match_is_unique_and_answers_its_waiters_with_itself():
    pending = Pending()
    assert pending.on_ask("later", "a").answers == []  # not complete yet: it waits
    *_, last = arrive(pending, "a", {0: [], 1: []})
    assert last.verdict == Verdict(None)
    assert last.answers == [VoteAnswer(article_id="later", target="a", story_id="a")]
    assert pending.waiters == []


def test_a_match_whose_story_the_band_knows_decides_at_once():
    pending = Pending()
    *_, last = arrive(pending, "b", {0: [MatchOut(article_id="x", story_id="s", similarity=0.9)],
                                     1: []})
    assert last.verdict is not None and last.verdict.story_id == "s"
    assert render(article("b"), last.verdict).duplicate_of == "s"


def test_an_unknown_story_is_asked_for_and_stale_answers_are_ignored():
    pending = Pending()
    steps = arrive(pending, "c", {0: [MatchOut(article_id="b", story_id=None, similarity=0.8)]})
    assert [s.verdict for s in steps] == [None, None]
    assert steps[-1].ask == VoteAsk(target="b", asker="c")
    assert pending.on_answer(VoteAnswer(article_id="c", target="zz", story_id="q")).verdict is None
    step = pending.on_answer(VoteAnswer(article_id="c", target="b", story_id="a"))
    assert step.verdict is not None and step.verdict.original is not None
    assert (step.verdict.original.article_id, step.verdict.story_id) == ("b", "a")


def test_a_chain_of_copies_is_followed_to_its_story_and_cut_when_too_long():
    pending = Pending.from_bytes(Pending().to_bytes())
    arrive(pending, "d", {0: [MatchOut(article_id="c", story_id=None, similarity=0.7)]})
    # Survives a restart in the middle of the lookup.
    pending = Pending.from_bytes(pending.to_bytes())
    step = pending.on_answer(VoteAnswer(article_id="d", target="c", next="b"))
    assert step.ask == VoteAsk(target="b", asker="d") and step.verdict is None
    for hop in range(pending.hops, MAX_HOPS):
        step = pending.on_answer(VoteAnswer(article_id="d", target=pending.resolving or "",
                                            next=f"n{hop}"))
        assert step.verdict is None
    step = pending.on_answer(VoteAnswer(article_id="d", target=pending.resolving or "",
                                        next="last"))
    assert step.verdict is not None and step.verdict.story_id == "last"


def test_asks_are_answered_with_what_is_known_at_each_point():
    pending = Pending()
    pending.on_ask("late", "b")
    *_, last = arrive(pending, "b", {0: [MatchOut(article_id="a", story_id=None, similarity=0.9)]})
    # b is still looking up a's story: its waiters are sent on to a.
    assert last.answers == [VoteAnswer(article_id="late", target="b", next="a")]
    assert pending.on_ask("later", "b").answers == [
        VoteAnswer(article_id="later", target="b", next="a")]
    decided = pending.on_answer(VoteAnswer(article_id="b", target="a", story_id="a")).verdict
    assert decided is not None
    assert answer_for(decided, "b", "x") == VoteAnswer(article_id="x", target="b", story_id="a")
    assert answer_for(Verdict(None), "b", "x").story_id == "b"


def test_redelivered_votes_after_the_decision_change_nothing_but_repeat_the_question():
    pending = Pending()
    arrive(pending, "e", {0: [MatchOut(article_id="a", story_id=None, similarity=0.9)]})
    before = pending.to_bytes()
    again = pending.add(band_reply("e", 0, []))
    assert again.verdict is None and again.ask == VoteAsk(target="a", asker="e")
    assert pending.to_bytes() == before


def test_single_vote_messages_are_told_apart_by_their_op():
    for message in (VoteAsk(target="a", asker="b"),
                    VoteAnswer(article_id="b", target="a", next="z")):
        assert decode_vote_message(message.to_bytes()) == message


def test_an_unanswered_question_is_asked_again_after_a_while_and_on_redelivery():
    pending = Pending()
    article_vote = VoteArticle(article=article("f"), band_keys=["k"])
    pending.add(article_vote, now=100.0)
    step = pending.add(band_reply("f", 0, [
        MatchOut(article_id="a", story_id=None, similarity=0.9)]), now=100.0)
    assert step.ask == VoteAsk(target="a", asker="f")
    assert pending.retry(now=102.0, after=5.0) is None
    assert pending.retry(now=106.0, after=5.0) == VoteAsk(target="a", asker="f")
    # The message that led to the question comes again after a crash: ask again at once.
    assert pending.add(article_vote, now=101.0).ask == VoteAsk(target="a", asker="f")
    assert Pending().retry(now=1e9, after=0.0) is None
