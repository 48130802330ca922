"""Collecting the band replies of an article and deciding whether it is a copy (no Kafka)."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from schemas.article_duplicate import DuplicateArticle
from schemas.article_raw import RawArticle
from schemas.article_unique import UniqueArticle
from services.dedup.logic import Match, choose_original
from services.dedup.protocol import (
    StoryJoin,
    VoteAnswer,
    VoteArticle,
    VoteAsk,
    VoteReply,
)

__all__ = ["Pending", "Step", "Verdict", "answer_for", "render"]


MAX_HOPS = 8  # a chain of copies of copies longer than this is cut short (see Pending)


@dataclass(frozen=True)
class Verdict:
    """Unique (``original`` is None) or a copy of ``original``, whose story is known."""

    original: Match | None
    at: float | None = None  # when it was decided (Unix time), to expire it
    # The join the verdict sent to its story's trail, kept to send it again when a vote of
    # the decided article is redelivered (the crash may have come before it was sent).
    join: StoryJoin | None = None

    @property
    def story_id(self) -> str | None:
        """The story of a copy; None for a unique article (it is its own story)."""
        return None if self.original is None else self.original.story_id

    def to_bytes(self) -> bytes:
        join = None if self.join is None else self.join.model_dump(mode="json")
        if self.original is None:
            return orjson.dumps({"unique": True, "at": self.at, "join": join})
        m = self.original
        return orjson.dumps({"unique": False, "article_id": m.article_id,
                             "story_id": m.story_id, "similarity": m.similarity,
                             "at": self.at, "join": join})

    @classmethod
    def from_bytes(cls, raw: bytes) -> Verdict:
        data = orjson.loads(raw)
        join = None if data.get("join") is None else StoryJoin.model_validate(data["join"])
        if data["unique"]:
            return cls(None, data.get("at"), join)
        return cls(Match(data["article_id"], data["story_id"], data["similarity"]),
                   data.get("at"), join)


@dataclass
class Step:
    """What the decide stage must do after a message: publish, ask, answer."""

    verdict: Verdict | None = None
    ask: VoteAsk | None = None
    answers: list[VoteAnswer] = field(default_factory=list)


@dataclass
class Pending:
    """One undecided article: the article, its band replies, and, once they are all in,
    the earlier copy it matched whose story is still being looked up.

    The lookup asks the matched article's own partition. That partition answers as soon
    as its article has all its band replies (which never wait on a lookup), either with
    the story or with the earlier copy *it* matched, which the asker asks next. So no
    lookup waits on another lookup and two articles can never wait on each other.
    Questions and answers are idempotent, so a lookup that a crash cut short is simply
    asked again (:meth:`retry`).
    """

    article: RawArticle | None = None
    band_keys: list[str] = field(default_factory=list)
    answered: set[int] = field(default_factory=set)  # numbers of the keys that answered
    # The earlier copies found: article id -> (story id if the band knew it, similarity).
    matches: dict[str, tuple[str | None, float]] = field(default_factory=dict)
    choice: Match | None = None  # the matched earlier copy while its story is looked up
    resolving: str | None = None  # the article currently asked
    hops: int = 0
    waiters: list[str] = field(default_factory=list)  # askers to answer once complete
    asked_at: float = 0.0  # when the current question was sent (wall clock)

    @property
    def article_id(self) -> str:
        assert self.article is not None
        return self.article.id

    @property
    def complete(self) -> bool:
        return self.article is not None and len(self.answered) >= len(self.band_keys)

    def add(self, vote: VoteArticle | VoteReply, now: float = 0.0) -> Step:
        """Record the article or a band reply; decide once everything is in."""
        if self.complete:
            # A redelivery: the question it led to may have been lost with the crash.
            return Step(ask=self.retry(now, after=0.0))
        if isinstance(vote, VoteArticle):
            self.article = vote.article
            self.band_keys = list(vote.band_keys)
        else:
            # A pair is reported at one key only, so a repeated match is a redelivery.
            self.answered.update(vote.bands)
            for m in vote.matches:
                self.matches[m.article_id] = (m.story_id, m.similarity)
        if not self.complete:
            return Step()
        waiters, self.waiters = self.waiters, []
        choice = choose_original([Match(article_id, story, similarity) for article_id,
                                  (story, similarity) in self.matches.items()])
        if choice is None:
            return Step(Verdict(None), answers=[self._answer(w, story=self.article_id)
                                                for w in waiters])
        if choice.story_id is not None:
            return Step(Verdict(choice), answers=[self._answer(w, story=choice.story_id)
                                                  for w in waiters])
        self.choice, self.resolving, self.hops, self.asked_at = (
            choice, choice.article_id, 1, now)
        return Step(ask=VoteAsk(target=choice.article_id, asker=self.article_id),
                    answers=[self._answer(w, next_=choice.article_id) for w in waiters])

    def on_ask(self, asker: str, target: str) -> Step:
        """Another article asks this (undecided) one for its story."""
        if self.resolving is not None:
            return Step(answers=[VoteAnswer(article_id=asker, target=target,
                                            next=self.resolving)])
        if asker not in self.waiters:
            self.waiters.append(asker)
        return Step()

    def retry(self, now: float, after: float) -> VoteAsk | None:
        """The current question again if it has gone unanswered for ``after`` seconds."""
        if self.resolving is None or now - self.asked_at < after:
            return None
        return VoteAsk(target=self.resolving, asker=self.article_id)

    def on_answer(self, answer: VoteAnswer, now: float = 0.0) -> Step:
        """The asked article's answer: the story, or whom to ask next."""
        if self.choice is None or answer.target != self.resolving:
            return Step()  # stale: a redelivered answer to an earlier question
        if answer.story_id is not None or answer.next is None or self.hops >= MAX_HOPS:
            # A chain this long only comes from pathological arrival orders; the last
            # copy reached stands in for the story rather than waiting any longer.
            story = answer.story_id or answer.next or answer.target
            return Step(Verdict(Match(self.choice.article_id, story, self.choice.similarity)))
        self.resolving, self.hops, self.asked_at = answer.next, self.hops + 1, now
        return Step(ask=VoteAsk(target=answer.next, asker=self.article_id))

    def _answer(self, asker: str, *, story: str | None = None,
                next_: str | None = None) -> VoteAnswer:
        return VoteAnswer(article_id=asker, target=self.article_id, story_id=story, next=next_)

    def to_bytes(self) -> bytes:
        choice = self.choice
        return orjson.dumps({
            "article": None if self.article is None else self.article.model_dump(mode="json"),
            "band_keys": self.band_keys,
            "answered": sorted(self.answered),
            "matches": {k: list(v) for k, v in self.matches.items()},
            "choice": None if choice is None else [choice.article_id, choice.similarity],
            "resolving": self.resolving, "hops": self.hops, "waiters": self.waiters,
            "asked_at": self.asked_at})

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> Pending:
        if not raw:
            return cls()
        data = orjson.loads(raw)
        choice = data.get("choice")
        article = data["article"]
        if "replies" in data:  # written by a version that kept one reply per key
            data["answered"] = [int(k) for k in data["replies"]]
            data["matches"] = {m["article_id"]: [m["story_id"], m["similarity"]]
                               for band in data["replies"].values() for m in band}
        return cls(None if article is None else RawArticle.model_validate(article),
                   data["band_keys"], set(data["answered"]),
                   {k: (v[0], v[1]) for k, v in data["matches"].items()},
                   None if choice is None else Match(choice[0], None, choice[1]),
                   data.get("resolving"), data.get("hops", 0), data.get("waiters", []),
                   data.get("asked_at", 0.0))


def answer_for(verdict: Verdict, target: str, asker: str) -> VoteAnswer:
    """What a decided article tells an asker: its story."""
    return VoteAnswer(article_id=asker, target=target, story_id=verdict.story_id or target)


def render(article: RawArticle, verdict: Verdict) -> UniqueArticle | DuplicateArticle:
    """The output message for an article and its verdict."""
    fields = article.model_dump()
    if verdict.original is None:
        return UniqueArticle(**fields, story_id=article.id)
    assert verdict.original.story_id is not None
    return DuplicateArticle(
        **fields,
        duplicate_of=verdict.original.story_id,
        similarity=round(verdict.original.similarity, 4),
    )
