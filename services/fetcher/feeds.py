"""Feed parsing, clean text and canonical URLs: pure functions, no Kafka, no network."""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser
import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from schemas.article_raw import RawArticle
from schemas.base import describe_errors
from services.fetcher.netguard import AddressGuard, BlockedAddress
from wirewatch.configfiles import read_yaml
from wirewatch.http import http_url

__all__ = [
    "FeedConfig",
    "FeedError",
    "FeedsFileError",
    "ParsedFeed",
    "article_id",
    "canonical_url",
    "html_to_text",
    "item_ids",
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
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?>")
# Every kind of white space, the no-break space of "Kyiv&nbsp;region" included.
_SPACE = re.compile(r"\s+")
_BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr",
           "section", "article", "figcaption", "pre"}


class FeedError(ValueError):
    """A feed could not be used; the message says what was wrong."""


class FeedsFileError(ValueError):
    """The feeds file is unusable; the message names the file and entry."""


class FeedConfig(BaseModel):
    """One feed to poll."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(description="Feed URL (http or https).")
    source: str = Field(min_length=1, description="Outlet name given to its articles.")
    interval: float = Field(default=300, ge=1, description="Seconds between polls.")

    @field_validator("url")
    @classmethod
    def _usable_url(cls, url: str) -> str:
        try:
            parsed = httpx.URL(url)
            urlsplit(url).port  # noqa: B018 - raises for a port out of range
        except (httpx.InvalidURL, ValueError) as exc:
            raise ValueError(f"not a usable URL: {exc}") from None
        if parsed.scheme not in ("http", "https"):
            scheme = parsed.scheme or "a URL without scheme"
            raise ValueError(f"only http and https feeds are read, not {scheme}")
        if not parsed.host:
            raise ValueError("the URL has no host")
        return url


class _FeedsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feeds: list[FeedConfig]


def load_feeds(path: Path, guard: AddressGuard | None = None) -> list[FeedConfig]:
    """Read the feeds YAML file: ``feeds: [{url, source, interval}]``. With a ``guard``,
    a URL it refuses without looking up a name (another scheme, a private address) is an
    error of the file too."""
    data = read_yaml(path, FeedsFileError)
    try:
        feeds = _FeedsFile.model_validate(data).feeds
    except ValidationError as exc:
        raise FeedsFileError(f"{path}: {describe_errors(exc)}") from exc
    for index, feed in enumerate(feeds if guard is not None else ()):
        try:
            guard.check_url(feed.url)  # type: ignore[union-attr]
        except BlockedAddress as exc:
            raise FeedsFileError(f"{path}: feeds.{index}.url: {exc}") from None
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
    """The id of an article known by its link: a hash of its canonical URL, stable
    across polls and replicas."""
    return _digest(canonical)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def html_to_text(markup: str) -> str:
    """Readable plain text: entities decoded, scripts and styles dropped, block elements
    as paragraphs. Markup a publisher escaped once more (``&lt;p&gt;``) is cleaned too."""
    if not _TAG.search(markup):
        markup = html.unescape(markup)  # which may reveal markup escaped by the publisher
    if _TAG.search(markup):
        tree = HTMLParser(markup)
        for node in tree.css("script, style, noscript, iframe, svg, form"):
            node.decompose()
        for node in tree.css(",".join(sorted(_BLOCKS))):
            node.insert_before("\n\n")
        root = tree.body or tree.root
        text = root.text(separator="", strip=False) if root is not None else ""
    else:
        text = markup
    lines = [_SPACE.sub(" ", line).strip() for line in re.split(r"\n\s*\n", text)]
    return "\n\n".join(line for line in lines if line)


@dataclass(frozen=True)
class FeedItem:
    """One item of a feed, whatever its format, before it becomes an article."""

    guid: str
    link: str
    title: str
    body: str
    published_at: datetime | None = None
    author: str | None = None


def item_ids(feed_url: str, items: Sequence[FeedItem]) -> list[str]:
    """An id per item that no other item of the feed shares.

    The item's guid (RSS) or id (Atom, JSON Feed) when it has one, which names the item
    for good within its feed; else its link; else its content. An id a feed gives twice
    (a publisher's mistake) falls back to the link, and then to the content, so that
    distinct items never share an id, and episodes that share one link keep theirs.
    """
    def by_guid(i: FeedItem) -> str | None:
        return _digest(feed_url, "guid", i.guid) if i.guid else None

    def by_link(i: FeedItem) -> str | None:
        return article_id(canonical_url(i.link)) if i.link else None

    def by_content(i: FeedItem) -> str:
        return _digest(feed_url, "content", i.title, i.body)

    ids: list[str | None] = [by_guid(i) for i in items]
    for fallback in (by_link, by_content):
        counts = Counter(ids)
        ids = [fallback(item) if i is None or counts[i] > 1 else i
               for i, item in zip(ids, items, strict=True)]
    return [i or by_content(item) for i, item in zip(ids, items, strict=True)]


def _when(entry: Any, *names: str) -> datetime | None:
    for name in names:
        value = entry.get(name)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def _http_link(*candidates: str | None) -> str:
    return next((link for c in candidates if (link := http_url(c))), "")


def _entry_item(entry: Any) -> FeedItem:
    # Full content when the feed has it, else the summary.
    contents = entry.get("content") or []
    best = max((c.get("value", "") for c in contents), key=len, default="")
    summary = entry.get("summary", "") or entry.get("description", "")
    guid = str(entry.get("id") or "").strip()
    return FeedItem(
        guid=guid,
        link=_http_link(entry.get("link"), guid),
        title=html_to_text(entry.get("title", "")),
        body=html_to_text(best if len(best) > len(summary) else summary),
        published_at=_when(entry, "published_parsed", "updated_parsed"),
        author=entry.get("author") or None,
    )


class _JsonAuthor(BaseModel):
    name: str | None = None


class _JsonItem(BaseModel):
    id: str | int
    url: str | None = None
    external_url: str | None = None
    title: str | None = None
    content_html: str | None = None
    content_text: str | None = None
    summary: str | None = None
    date_published: datetime | None = None
    date_modified: datetime | None = None
    author: _JsonAuthor | None = None  # version 1.0
    authors: list[_JsonAuthor] | None = None  # version 1.1


class _JsonFeed(BaseModel):
    version: str = Field(pattern=r"^https?://jsonfeed\.org/version/1(\.1)?/?$")
    language: str | None = None
    items: list[dict[str, Any]]


def _json_item(item: _JsonItem) -> FeedItem:
    html_body, text_body = item.content_html or "", item.content_text or ""
    body = html_to_text(html_body) if len(html_body) >= len(text_body) else \
        html_to_text(text_body)
    when = item.date_published or item.date_modified
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    names = [a.name for a in (item.authors or ([item.author] if item.author else [])) if a.name]
    return FeedItem(
        guid=str(item.id).strip(),
        link=_http_link(item.url, item.external_url),
        title=html_to_text(item.title or ""),
        body=body or html_to_text(item.summary or ""),
        published_at=when,
        author=", ".join(names) or None,
    )


def _looks_like_json(content: bytes, content_type: str | None) -> bool:
    if content_type and "json" in content_type.lower():
        return True
    return content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


@dataclass
class ParsedFeed:
    """Articles of a feed and the items that had to be skipped, with why."""

    articles: list[RawArticle] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warning: str | None = None


def parse_feed(content: bytes, feed_url: str, source: str, fetched_at: datetime,
               content_type: str | None = None) -> ParsedFeed:
    """Parse RSS 0.9x/1.0/2.0, Atom or JSON Feed 1.0/1.1 bytes into raw articles.

    ``content_type`` is the HTTP Content-Type header: its charset comes first, then a
    byte-order mark, then the XML declaration. Raises FeedError when the document is not
    a feed at all; a feed that is slightly malformed but has entries is used, with
    ``warning`` saying what was wrong.
    """
    result = ParsedFeed()
    items: list[tuple[int, FeedItem]] = []
    language: str | None
    if _looks_like_json(content, content_type):
        try:
            feed = _JsonFeed.model_validate(orjson.loads(content))
        except orjson.JSONDecodeError as exc:
            raise FeedError(f"not a readable JSON Feed: {exc}") from None
        except ValidationError as exc:
            raise FeedError(f"not a JSON Feed: {describe_errors(exc)}") from None
        language = feed.language
        for index, raw in enumerate(feed.items):
            try:
                items.append((index, _json_item(_JsonItem.model_validate(raw))))
            except ValidationError as exc:
                result.skipped.append(f"item {index}: {describe_errors(exc)}")
    else:
        headers = {"content-type": content_type} if content_type else {}
        parsed = feedparser.parse(content, response_headers=headers)
        problem = str(parsed.get("bozo_exception", "")) if parsed.get("bozo") else None
        if not parsed.entries:
            if problem:
                raise FeedError(f"not a readable feed: {problem}")
            if not parsed.get("version"):
                raise FeedError("not an RSS, Atom or JSON Feed document")
        result.warning = problem
        language = parsed.feed.get("language") or None
        items = list(enumerate(_entry_item(e) for e in parsed.entries))
    kept = [(index, item) for index, item in items if item.title or item.body]
    result.skipped += [f"item {index}{f' ({item.link})' if item.link else ''}: "
                       "no title and no text" for index, item in items if not (
                           item.title or item.body)]
    ids = item_ids(feed_url, [item for _, item in kept])
    for (index, item), item_id in zip(kept, ids, strict=True):
        try:
            result.articles.append(RawArticle(
                id=item_id,
                url=canonical_url(item.link) if item.link else feed_url,
                source=source,
                title=item.title,
                body=item.body,
                published_at=item.published_at,
                fetched_at=fetched_at,
                feed_url=feed_url,
                author=item.author,
                language=language,
            ))
        except ValidationError as exc:
            result.skipped.append(f"item {index}: {describe_errors(exc)}")
    return result
