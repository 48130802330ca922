"""``wirewatch match-test``: which subscriptions a file of articles would alert, and why.

The same index and rules the notifier runs, so a rule can be checked against real
articles before it is put to work.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.article_classified import ClassifiedArticle
from schemas.base import describe_errors
from services.notifier.index import SubscriptionIndex
from wirewatch_cli.replay import Problem, json_objects

__all__ = ["match_lines", "read_classified"]


def read_classified(path: Path) -> Iterator[ClassifiedArticle | Problem]:
    """Articles from JSON lines: ``articles.classified`` records, or raw articles (then
    without topics, each its own story)."""
    for item in json_objects(path):
        if isinstance(item, Problem):
            yield item
            continue
        where, data = item
        data.setdefault("story_id", data.get("id"))
        data.setdefault("classifier", "none")
        data.setdefault("topics", [])
        try:
            yield ClassifiedArticle.model_validate(data)
        except ValidationError as exc:
            yield Problem(where, describe_errors(exc))


def match_lines(index: SubscriptionIndex, articles: Path
                ) -> Iterator[dict[str, Any] | Problem]:
    """One JSON-ready line per article: its id and the subscriptions it matches, with
    the reasons; a :class:`Problem` for a line that is not an article."""
    for item in read_classified(articles):
        if isinstance(item, Problem):
            yield item
            continue
        yield {"id": item.id, "matches": [
            {"subscription": sub.name, "reasons": list(result.reasons)}
            for sub, result in index.match(item)]}
