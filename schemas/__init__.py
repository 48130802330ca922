"""wirewatch's message contract: one pydantic model per event, and the public topics."""

from schemas.alert import Alert
from schemas.article_classified import TOPIC_IDS, ClassifiedArticle, TopicTag
from schemas.article_duplicate import DuplicateArticle
from schemas.article_raw import RawArticle
from schemas.article_unique import UniqueArticle
from schemas.base import Event, MessageDecodeError
from schemas.deadletter import DeadLetter
from schemas.story import Story, StoryMember
from schemas.subscription import Subscription
from schemas.topics import PUBLIC_TOPICS, TopicSpec

__all__ = [
    "PUBLIC_TOPICS",
    "TOPIC_IDS",
    "Alert",
    "ClassifiedArticle",
    "DeadLetter",
    "DuplicateArticle",
    "Event",
    "MessageDecodeError",
    "RawArticle",
    "Story",
    "StoryMember",
    "Subscription",
    "TopicSpec",
    "TopicTag",
    "UniqueArticle",
]
