"""dedup's index: every article of the retention under its keys, and each story's trail.

It is a pure function of ``dedup.log`` read in order: each sighting is compared with
the earlier ones that share enough keys with it, then indexed; a copy joins the story of
the article it copies most, and when it copies articles of several stories, they become
one. So the topic itself is the index's log: a replica that takes the log over rebuilds
the index by replaying it, and no table has to be written for any article. No Kafka here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from schemas.article_raw import RawArticle
from services.dedup.detector import (
    Comparable,
    Key,
    LshParams,
    copy_score,
    decode_values,
    index_keys,
    keys_to_share,
)
from services.dedup.logic import Match, choose_original
from services.dedup.protocol import DetectorParams, Sighting, Sightings
from services.dedup.stories import StoryTrail, join, member_of, merge
from services.dedup.verdicts import Verdict

__all__ = ["Decision", "Indexed", "StoryIndex"]


@dataclass(frozen=True)
class Indexed:
    """What the index keeps of an article."""

    article_id: str
    text: Comparable
    exact: str
    indexed: bool  # filed under its keys (made with this index's detector parameters)
    at: float
    verdict: Verdict

    def filed_under(self) -> list[Key]:
        # Recomputed when needed rather than kept: 40-odd tuples per article.
        return index_keys(self.text, self.exact) if self.indexed else []

    @property
    def story_id(self) -> str:
        return self.verdict.story_of(self.article_id)


@dataclass(frozen=True)
class Decision:
    """The verdict on one sighting, the story's trail after it, and whether the article
    had been seen before (a redelivery: the same verdict again)."""

    article: RawArticle
    verdict: Verdict
    trail: StoryTrail | None
    repeated: bool = False
    # Stories this article showed to be part of its own (it copies them too): their
    # trails, each marked as merged into ``trail``.
    merged: tuple[StoryTrail, ...] = ()


@dataclass
class StoryIndex:
    """Every article of the retention under its keys, each one's verdict, and the trail
    of every story; fed one log message at a time by :meth:`apply`."""

    params: LshParams
    max_age: float
    max_entries: int  # articles kept per key, the latest: bounds a key every text shares
    entries: dict[str, Indexed] = field(default_factory=dict)
    # The articles under each key, oldest first (read them with :meth:`filed`). Most keys
    # belong to one article: that one is kept as its bare id, a tuple only from two on.
    keys: dict[Key, str | tuple[str, ...]] = field(default_factory=dict)
    trails: dict[str, StoryTrail] = field(default_factory=dict)
    # Stories merged into another: an article's verdict names the story it joined then,
    # and this leads from it to the story it is part of now.
    merged: dict[str, str] = field(default_factory=dict)
    next_offset: int = 0  # the first offset of the log not applied yet
    ignored: int = 0  # sightings made with other detector parameters, not indexed

    def __post_init__(self) -> None:
        self._tag = DetectorParams(**self.params.tag())

    def apply(self, message: Sightings) -> list[Decision]:
        """Decide each sighting of a message in order. Applying a message again gives the
        same verdicts and leaves the index as it was."""
        comparable = message.params == self._tag
        if not comparable:
            # Their signatures and sketches cannot be compared with these: each such
            # article is unique to this index and never matched.
            self.ignored += len(message.sightings)
        return [self._see(sighting, comparable) for sighting in message.sightings]

    def expire(self, now: float) -> int:
        """Forget the articles and trails older than ``max_age``; return how many went.
        A new sighting already ignores them, so nothing answers differently: this only
        bounds memory by the retention."""
        old = {a for a, e in self.entries.items() if now - e.at > self.max_age}
        for article_id in old:
            entry = self.entries.pop(article_id)
            for key in entry.filed_under():
                self._file(key, tuple(a for a in self.filed(key) if a != article_id))
        stale = [s for s, t in self.trails.items() if now - t.last_seen.timestamp() > self.max_age]
        for story_id in stale:
            del self.trails[story_id]
        # A story's articles are no older than its last copy, so once it has expired no
        # article can lead to it any more.
        self.merged = {a: s for a, s in self.merged.items() if self.story(s) in self.trails}
        return len(old) + len(stale)

    def story(self, story_id: str) -> str:
        """The story a story id stands for now: itself, or the one it was merged into."""
        while story_id in self.merged:
            story_id = self.merged[story_id]
        return story_id

    def filed(self, key: Key) -> tuple[str, ...]:
        """The ids of the articles under ``key``, oldest first."""
        found = self.keys.get(key, ())
        return (found,) if isinstance(found, str) else found

    def _file(self, key: Key, article_ids: tuple[str, ...]) -> None:
        if len(article_ids) > 1:
            self.keys[key] = article_ids
        elif article_ids:
            self.keys[key] = article_ids[0]
        else:
            self.keys.pop(key, None)

    def _candidates(self, text: Comparable, keys: list[Key], at: float) -> Iterator[Indexed]:
        # The index's hot loops (every key of every sighting) look keys up inline: most
        # keys have no article yet, and a method call per key cost more than the lookups.
        shared: dict[str, int] = {}
        filed = self.keys
        for key in keys:
            found = filed.get(key)
            if found is None:
                continue
            for article_id in (found,) if isinstance(found, str) else found:
                shared[article_id] = shared.get(article_id, 0) + 1
        for article_id, count in shared.items():
            entry = self.entries.get(article_id)
            if (entry is not None and at - entry.at <= self.max_age
                    and count >= keys_to_share(text, entry.text)):
                yield entry

    def _add(self, keys: list[Key], article_id: str) -> None:
        """File an article under its keys, keeping the latest ``max_entries`` of each."""
        filed, keep = self.keys, self.max_entries - 1
        for key in keys:
            found = filed.get(key)
            if found is None:
                filed[key] = article_id
            elif isinstance(found, str):
                filed[key] = (found, article_id)
            else:
                filed[key] = (*found[-keep:], article_id)

    def _see(self, sighting: Sighting, comparable: bool) -> Decision:
        article = sighting.article
        known = self.entries.get(article.id)
        if known is not None:
            return Decision(article, known.verdict, self.trails.get(self.story(known.story_id)),
                            True)
        text = Comparable.of(decode_values(sighting.sig), decode_values(sighting.sketch),
                             sighting.size, self.params)
        keys = index_keys(text, sighting.exact) if comparable else []
        matches = []
        for entry in self._candidates(text, keys, sighting.at):
            similarity = copy_score(text, sighting.exact, entry.text, entry.exact, self.params)
            if similarity is not None:
                matches.append(Match(entry.article_id, self.story(entry.story_id),
                                     min(1.0, similarity)))
        now = datetime.fromtimestamp(sighting.at, UTC)
        original = choose_original(matches)
        merged: list[StoryTrail] = []
        if original is not None:
            story_id, merged = self._merge({m.story_id for m in matches}, now)
            original = replace(original, story_id=story_id)
        verdict = Verdict(original)
        entry = Indexed(article.id, text, sighting.exact, comparable, sighting.at, verdict)
        self.entries[article.id] = entry
        self._add(keys, article.id)
        similarity = 1.0 if original is None else original.similarity
        trail, _ = join(self.trails.get(entry.story_id), entry.story_id,
                        member_of(article, similarity), now)
        self.trails[entry.story_id] = trail
        return Decision(article, verdict, trail, merged=tuple(merged))

    def _merge(self, story_ids: set[str], now: datetime) -> tuple[str, list[StoryTrail]]:
        """One story of all those an article copies: the one dedup saw first (then by id)
        takes the others in. So the stories come out the same whatever order copies
        arrive in: an article that copies two stories joins them."""
        present = sorted(story_ids & self.trails.keys(),
                         key=lambda s: (self.trails[s].first_seen, s))
        if not present:  # gone with the retention while their articles were not: rare
            return min(story_ids), []
        into, merged = self.trails[present[0]], []
        for other in present[1:]:
            merged.append(self.trails.pop(other))
            merge(into, merged[-1], now)
            self.merged[other] = into.story_id
        return into.story_id, merged
