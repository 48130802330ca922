"""Reading articles from files for ``wirewatch replay``: JSON lines, or a folder of text files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.article_raw import RawArticle
from schemas.base import describe_errors

__all__ = ["Problem", "ReplayError", "json_objects", "read_articles"]


class ReplayError(ValueError):
    """A replay input is unusable; the message names the file and line."""


@dataclass(frozen=True)
class Problem:
    """A line or file that could not be read as an article."""

    where: str
    error: str


def _from_text_file(path: Path, source: str, now: datetime) -> RawArticle:
    text = path.read_text(encoding="utf-8")
    lines = text.strip().splitlines()
    title = lines[0].strip() if lines else ""
    body = "\n".join(lines[1:]).strip()
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    return RawArticle(
        id=f"file-{digest}",
        url=path.resolve().as_uri(),
        source=source,
        title=title,
        body=body,
        fetched_at=now,
    )


def json_objects(path: Path) -> Iterator[tuple[str, dict[str, Any]] | Problem]:
    """Each non-blank line of a JSON-lines file as (``file:line``, object), or the
    :class:`Problem` that stops it from being one."""
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
            yield where, data


def _from_json_lines(path: Path, now: datetime) -> Iterator[RawArticle | Problem]:
    for item in json_objects(path):
        if isinstance(item, Problem):
            yield item
            continue
        where, data = item
        data.setdefault("fetched_at", now.isoformat())
        try:
            yield RawArticle.model_validate(data)
        except ValidationError as exc:
            yield Problem(where, describe_errors(exc))


def read_articles(path: Path, source: str = "replay") -> Iterator[RawArticle | Problem]:
    """Articles from a ``.jsonl`` file, or from every ``*.txt`` file of a folder.

    A text file is one article: its first line is the headline, the rest the body. A JSON
    line is a raw article (``fetched_at`` defaults to now). Bad lines come back as
    :class:`Problem` so the caller can report them all and go on.
    """
    now = datetime.now(UTC)
    if not path.exists():
        raise ReplayError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in {".txt", ".jsonl"})
        if not files:
            raise ReplayError(f"{path}: no .txt or .jsonl files in this folder")
    else:
        files = [path]
    for file in files:
        if file.suffix == ".jsonl" or file.suffix == ".json":
            yield from _from_json_lines(file, now)
        else:
            try:
                yield _from_text_file(file, source, now)
            except UnicodeDecodeError as exc:
                yield Problem(str(file), f"not UTF-8 text: {exc}")
