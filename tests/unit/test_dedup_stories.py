"""The story trail: its origin is the copy published first, whatever the reading order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import orjson

from schemas.story import MAX_LISTED_COPIES, StoryMember
from services.dedup.stories import StoryTrail, join, merge

T0 = datetime(2026, 1, 6, 8, tzinfo=UTC)


def _member(n: int, published: int | None, source: str = "", fetched: int = 100) -> StoryMember:
    return StoryMember(article_id=f"a{n}", url=f"https://e.org/{n}", source=source or f"S{n}",
                       title=f"T{n}", fetched_at=T0 + timedelta(minutes=fetched),
                       published_at=None if published is None
                       else T0 + timedelta(minutes=published),
                       similarity=1.0 if n == 0 else 0.9)


def _trail(members: list[StoryMember]) -> StoryTrail:
    trail = None
    for i, member in enumerate(members):
        trail, _ = join(trail, "a-first-read", member, T0 + timedelta(hours=i))
    assert trail is not None
    return trail


def test_the_origin_is_the_earliest_publication_in_any_reading_order():
    members = [_member(0, 30), _member(1, 10), _member(2, None, fetched=5), _member(3, 50)]
    records = {orjson.dumps(_trail(list(order)).record().model_dump(
        mode="json", exclude={"first_seen", "last_seen"})) for order in
        itertools.permutations(members)}
    assert len(records) == 1  # the same trail whatever the order
    story = _trail(members).record()
    # a2 says nothing of its publication: it counts from its fetch, 5 minutes in.
    assert story.origin.article_id == "a2"
    assert [c.article_id for c in story.copies] == ["a1", "a0", "a3"]
    assert (story.copy_count, story.source_count, story.story_id) == (3, 4, "a-first-read")


def test_a_copy_read_twice_counts_once_and_sources_are_distinct():
    members = [_member(0, 0, "Wire A"), _member(1, 5, "wire a"), _member(2, 6, "Daily B")]
    trail = _trail(members)
    again, changed = join(trail, "a-first-read", members[1], T0 + timedelta(days=1))
    assert not changed and again.copy_count == 2 and again.record().source_count == 2


def test_the_listed_copies_are_bounded_the_counts_are_not():
    trail = _trail([_member(n, n) for n in range(MAX_LISTED_COPIES + 20)])
    story = trail.record()
    assert len(story.copies) == MAX_LISTED_COPIES and story.copy_count == MAX_LISTED_COPIES + 19
    assert story.copies[-1].article_id == f"a{MAX_LISTED_COPIES}"  # the earliest are kept
    late_origin, _ = join(trail, "a-first-read", _member(999, -60), T0)
    assert late_origin.origin.article_id == "a999" and late_origin.copies[0].article_id == "a0"



def test_a_merged_story_brings_its_copies_counts_and_outlets_and_points_to_the_other():
    into = _trail([_member(0, 30, "A"), _member(1, 40, "B")])
    other = _trail([_member(2, 10, "C"), _member(3, 50, "A")])
    other.story_id = "a-other"
    merged = merge(into, other, T0 + timedelta(days=1))
    record = merged.record()
    assert record.origin.article_id == "a2"  # published first of all four
    assert [c.article_id for c in record.copies] == ["a0", "a1", "a3"]
    assert record.copy_count == 3 and record.source_count == 3
    assert record.merged_into is None and record.last_seen == T0 + timedelta(days=1)
    gone = other.record()
    assert gone.merged_into == "a-first-read" and gone.last_seen == T0 + timedelta(days=1)
