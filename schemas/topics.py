"""The public topics: names, keys and value models. This table is part of the API."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.alert import Alert
from schemas.article_classified import ClassifiedArticle
from schemas.article_duplicate import DuplicateArticle
from schemas.article_raw import RawArticle
from schemas.article_unique import UniqueArticle
from schemas.base import Event
from schemas.deadletter import DeadLetter
from schemas.story import Story
from schemas.subscription import Subscription

__all__ = [
    "ALERTS",
    "ARTICLES_CLASSIFIED",
    "ARTICLES_DUPLICATES",
    "ARTICLES_RAW",
    "ARTICLES_UNIQUE",
    "DEADLETTERS",
    "PUBLIC_TOPICS",
    "STORIES",
    "SUBSCRIPTIONS",
    "TopicSpec",
]


@dataclass(frozen=True)
class TopicSpec:
    """A topic of the contract: its name, what its key is, its value model and partitions."""

    name: str
    key: str
    model: type[Event]
    partitions: int
    description: str


ARTICLES_RAW = TopicSpec(
    "articles.raw", "article id", RawArticle, 4,
    "Every article fetched or imported; anyone may publish here.",
)
ARTICLES_UNIQUE = TopicSpec(
    "articles.unique", "article id", UniqueArticle, 4,
    "The first copy of each story.",
)
ARTICLES_DUPLICATES = TopicSpec(
    "articles.duplicates", "article id", DuplicateArticle, 4,
    "Later copies, each pointing at the story it copies.",
)
ARTICLES_CLASSIFIED = TopicSpec(
    "articles.classified", "article id", ClassifiedArticle, 4,
    "Unique articles with their topics.",
)
ALERTS = TopicSpec(
    "alerts", "subscription id", Alert, 4,
    "One record per delivery attempt outcome of a subscription's alert.",
)
STORIES = TopicSpec(
    "stories", "story id", Story, 4,
    "One record per story, re-published whenever a copy joins it (compacted).",
)
SUBSCRIPTIONS = TopicSpec(
    "subscriptions", "subscription name", Subscription, 1,
    "Every subscription, the source of truth (compacted; a tombstone deletes). "
    "One partition keeps all changes in the order they were made.",
)
DEADLETTERS = TopicSpec(
    "deadletters", "original key", DeadLetter, 4,
    "Messages a service could not process, with stage, origin and reason.",
)

PUBLIC_TOPICS: tuple[TopicSpec, ...] = (
    ARTICLES_RAW,
    ARTICLES_UNIQUE,
    ARTICLES_DUPLICATES,
    ARTICLES_CLASSIFIED,
    STORIES,
    ALERTS,
    SUBSCRIPTIONS,
    DEADLETTERS,
)
