"""``wirewatch match-test``: which subscriptions a file of articles would alert, and why.

The same index and rules the notifier runs, so a rule can be checked against real
articles before it is put to work.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.article_classified import ClassifiedArticle
from schemas.base import describe_errors
from services.notifier.index import SubscriptionIndex
from wirewatch_cli.replay import Problem

__all__ = ["match_lines", "read_classified"]


def read_classified(path: Path) -> Iterator[ClassifiedArticle | Problem]:
    """Articles from JSON lines: ``articles.classified`` records, or raw articles (then
    without topics, each its own story)."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield Problem(where, f"not valid JSON: {exc}")
                continue
            if not isinstance(data, dict):
                yield Problem(where, "expected a JSON object")
                continue
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
