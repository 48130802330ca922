"""``stories``: the trail of a story, re-published whenever a copy joins it."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from schemas.base import Event

__all__ = ["MAX_LISTED_COPIES", "Story", "StoryMember"]

# Copies listed in one record; the counts go on beyond it.
MAX_LISTED_COPIES = 50


class StoryMember(Event):
    """One publication of the story."""

    article_id: str = Field(description="Id of the article (its key on the article topics).")
    url: str = Field(description="Link to it.")
    source: str = Field(description="Outlet that published it.")
    title: str = Field(default="", description="Its headline, which copies often change.")
    published_at: AwareDatetime | None = Field(
        default=None, description="When the outlet says it was published, if it says so.")
    fetched_at: AwareDatetime = Field(description="When wirewatch obtained it.")
    similarity: float = Field(
        ge=0, le=1, description="How much of its text it shares with the story's first "
                                "copy as dedup read them (1 for that copy itself).")


class Story(Event):
    """A story and its copies so far. Key on the topic: ``story_id``; the topic is
    compacted, so its latest record per story is the story's current trail."""

    story_id: str = Field(
        description="The story's id: the article id of the copy dedup read first (the "
                    "``story_id`` of ``articles.unique`` and ``duplicate_of`` of "
                    "``articles.duplicates``).")
    origin: StoryMember = Field(
        description="The copy published first (by ``published_at``, then ``fetched_at``), "
                    "whatever order dedup read the copies in.")
    copies: list[StoryMember] = Field(
        default_factory=list,
        description=f"The other copies, earliest published first; at most "
                    f"{MAX_LISTED_COPIES} (``copy_count`` counts them all).")
    copy_count: int = Field(ge=0, description="Copies besides the origin.")
    source_count: int = Field(ge=1, description="Distinct outlets among all its copies.")
    first_seen: AwareDatetime = Field(description="When dedup first saw the story.")
    last_seen: AwareDatetime = Field(description="When its latest copy joined.")
    merged_into: str | None = Field(
        default=None,
        description="Set when the story turned out to be part of another: an article read "
                    "later was a copy of both (copying is not transitive: an edited copy and "
                    "a newsletter that quotes the original may each be a copy of it and not "
                    "of each other). This record is then the story's last; its copies are "
                    "listed and counted in the record of the story named here, which later "
                    "copies join.")
