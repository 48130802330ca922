"""Feed parsing, clean text and canonical URLs: pure functions, no Kafka, no network."""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from schemas.article_raw import RawArticle
from schemas.base import describe_errors
from wirewatch.configfiles import read_yaml

__all__ = [
    "FeedConfig",
    "FeedError",
    "FeedsFileError",
    "ParsedFeed",
    "article_id",
    "canonical_url",
    "html_to_text",
    "load_feeds",
    "parse_feed",
]

# Query parameters that only track the reader; dropping them makes one URL per article.
_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|igshid|yclid|_ga|_gl|"
    r"ocid|cmpid|cmp|ref|ref_src|ref_url|src|spm|at_medium|at_campaign|at_custom\d*|"
    r"smid|sr_share|taid|ito|itm_\w+|guccounter|__twitter_impression|share)$",
    re.IGNORECASE,
)
_BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr",
           "section", "article", "figcaption", "pre"}


class FeedError(ValueError):
    """A feed could not be used; the message says what was wrong."""


class FeedsFileError(ValueError):
    """The feeds file is unusable; the message names the file and entry."""


class FeedConfig(BaseModel):
    """One feed to poll."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(pattern=r"^https?://", description="Feed URL.")
    source: str = Field(min_length=1, description="Outlet name given to its articles.")
    interval: float = Field(default=300, ge=1, description="Seconds between polls.")


class _FeedsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feeds: list[FeedConfig]


def load_feeds(path: Path) -> list[FeedConfig]:
    """Read the feeds YAML file: ``feeds: [{url, source, interval}]``."""
    data = read_yaml(path, FeedsFileError)
    try:
        feeds = _FeedsFile.model_validate(data).feeds
    except ValidationError as exc:
        raise FeedsFileError(f"{path}: {describe_errors(exc)}") from exc
    urls = [f.url for f in feeds]
    repeated = sorted({u for u in urls if urls.count(u) > 1})
    if repeated:
        raise FeedsFileError(f"{path}: feed listed twice: {', '.join(repeated)}")
    return feeds


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, fragment or tracking parameters."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not _TRACKING.match(k)]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(sorted(query)), ""))


def article_id(canonical: str) -> str:
    """The article id: a hash of its canonical URL, stable across polls and replicas."""
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def html_to_text(markup: str) -> str:
    """Readable plain text: scripts and styles dropped, block elements as paragraphs."""
    if "<" not in markup:
        return re.sub(r"[ \t]+", " ", markup).strip()
    tree = HTMLParser(markup)
    for node in tree.css("script, style, noscript, iframe, svg, form"):
        node.decompose()
    for node in tree.css(",".join(sorted(_BLOCKS))):
        node.insert_before("\n\n")
    root = tree.body or tree.root
    text = root.text(separator="", strip=False) if root is not None else ""
    lines = [re.sub(r"\s+", " ", line).strip() for line in re.split(r"\n\s*\n", text)]
    return "\n\n".join(line for line in lines if line)


def _when(entry: Any, *names: str) -> datetime | None:
    for name in names:
        value = entry.get(name)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def _body(entry: Any) -> str:
    # Full content when the feed has it, else the summary.
    contents = entry.get("content") or []
    best = max((c.get("value", "") for c in contents), key=len, default="")
    summary = entry.get("summary", "") or entry.get("description", "")
    return html_to_text(best if len(best) > len(summary) else summary)


@dataclass
class ParsedFeed:
    """Articles of a feed and the items that had to be skipped, with why."""

    articles: list[RawArticle] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warning: str | None = None


def parse_feed(content: bytes, feed_url: str, source: str, fetched_at: datetime) -> ParsedFeed:
    """Parse RSS 0.9x/1.0/2.0 or Atom bytes into raw articles.

    Raises FeedError when the document is not a feed at all; a feed that is slightly
    malformed but has entries is used, with ``warning`` saying what was wrong.
    """
    parsed = feedparser.parse(content)
    problem = str(parsed.get("bozo_exception", "")) if parsed.get("bozo") else None
    if not parsed.entries:
        if problem:
            raise FeedError(f"not a readable feed: {problem}")
        if not parsed.get("version"):
            raise FeedError("not an RSS or Atom document")
    result = ParsedFeed(warning=problem)
    for index, entry in enumerate(parsed.entries):
        link = entry.get("link") or ""
        if not link.startswith(("http://", "https://")):
            guid = entry.get("id") or ""
            if guid.startswith(("http://", "https://")):
                link = guid
        if not link:
            result.skipped.append(f"item {index}: no link")
            continue
        url = canonical_url(link)
        body = _body(entry)
        title = html_to_text(entry.get("title", ""))
        if not body and not title:
            result.skipped.append(f"item {index} ({url}): no title and no text")
            continue
        result.articles.append(RawArticle(
            id=article_id(url),
            url=url,
            source=source,
            title=title,
            body=body,
            published_at=_when(entry, "published_parsed", "updated_parsed"),
            fetched_at=fetched_at,
            feed_url=feed_url,
            author=entry.get("author") or None,
            language=parsed.feed.get("language") or None,
        ))
    return result
