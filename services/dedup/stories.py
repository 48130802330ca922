"""A story's trail: which copies joined it, and which was published first. Pure, no Kafka.

dedup names a story after the copy it read first; the trail's origin is the copy
*published* first (``published_at``, then ``fetched_at``), whatever the reading order,
so a feed that delivers late or copies read close together cannot make a later copy
the story's origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from schemas.article_raw import RawArticle
from schemas.story import MAX_LISTED_COPIES, Story, StoryMember
from wirewatch.text import fold

__all__ = ["MAX_REMEMBERED_IDS", "StoryTrail", "join", "member_of", "merge"]

# Ids remembered per story so that a copy read twice (at-least-once) is counted once.
MAX_REMEMBERED_IDS = 10_000


def member_of(article: RawArticle, similarity: float) -> StoryMember:
    return StoryMember(article_id=article.id, url=article.url, source=article.source,
                       title=article.title, published_at=article.published_at,
                       fetched_at=article.fetched_at, similarity=round(similarity, 4))


def _order(member: StoryMember) -> tuple[datetime, datetime, str]:
    return (member.published_at or member.fetched_at, member.fetched_at, member.article_id)


@dataclass
class StoryTrail:
    """What dedup keeps of a story to re-publish its record."""

    story_id: str
    origin: StoryMember
    copies: list[StoryMember]
    copy_count: int
    first_seen: datetime
    last_seen: datetime
    ids: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    merged_into: str | None = None

    def record(self) -> Story:
        return Story(story_id=self.story_id, origin=self.origin, copies=list(self.copies),
                     copy_count=self.copy_count, source_count=len(self.sources),
                     first_seen=self.first_seen, last_seen=self.last_seen,
                     merged_into=self.merged_into)


def join(trail: StoryTrail | None, story_id: str, member: StoryMember,
         now: datetime) -> tuple[StoryTrail, bool]:
    """The trail with ``member`` in it, and whether anything changed (a copy that joined
    already changes nothing)."""
    if trail is None:
        return StoryTrail(story_id, member, [], 0, now, now, [member.article_id],
                          [fold(member.source)]), True
    if member.article_id in trail.ids or member.article_id == trail.origin.article_id:
        return trail, False
    members = [trail.origin, *trail.copies, member]
    members.sort(key=_order)
    trail.origin, rest = members[0], members[1:]
    trail.copies = rest[:MAX_LISTED_COPIES]  # the earliest published, if there are more
    trail.copy_count += 1
    trail.last_seen = max(trail.last_seen, now)
    trail.ids = [*trail.ids, member.article_id][-MAX_REMEMBERED_IDS:]
    source = fold(member.source)
    if source not in trail.sources:
        trail.sources.append(source)
    return trail, True


def merge(into: StoryTrail, other: StoryTrail, now: datetime) -> StoryTrail:
    """``into`` with every copy of ``other`` in it (its origin still the copy published
    first); ``other`` is marked as merged into it and changes no more."""
    members = [into.origin, *into.copies, other.origin, *other.copies]
    members.sort(key=_order)
    into.origin, rest = members[0], members[1:]
    into.copies = rest[:MAX_LISTED_COPIES]
    into.copy_count += other.copy_count + 1  # the other story's origin is a copy now
    into.first_seen = min(into.first_seen, other.first_seen)
    into.last_seen = max(into.last_seen, other.last_seen, now)
    into.ids = [*into.ids, *other.ids][-MAX_REMEMBERED_IDS:]
    into.sources += [s for s in other.sources if s not in into.sources]
    other.merged_into = into.story_id
    other.last_seen = max(other.last_seen, now)
    return into
