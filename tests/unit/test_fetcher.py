from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.fetcher.feeds import (
    FeedError,
    FeedsFileError,
    canonical_url,
    html_to_text,
    load_feeds,
    parse_feed,
)
from services.fetcher.polling import FeedState, is_modified, is_rate_limited, retry_after_seconds

DEMO_FEEDS = Path(__file__).resolve().parents[2] / "demo" / "feeds"
NOW = datetime(2026, 1, 6, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://News.Example.COM:443/a/b?utm_source=x&id=7&fbclid=1#frag",
         "https://news.example.com/a/b?id=7"),
        ("http://example.org", "http://example.org/"),
        ("https://example.org/x?b=2&a=1&ref=rss", "https://example.org/x?a=1&b=2"),
        ("http://example.org:8080/x", "http://example.org:8080/x"),
    ],
)
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical


def test_html_to_text_keeps_paragraphs_and_drops_scripts():
    html = "<p>First &amp; <b>bold</b></p><script>x()</script><div>Second<br>line</div>"
    assert html_to_text(html) == "First & bold\n\nSecond\n\nline"


@pytest.mark.parametrize(("name", "count"), [("wire-a.xml", 3), ("daily-b.xml", 3),
                                            ("regional-c.xml", 2)])
def test_rss2_atom_and_rss1_are_parsed(name, count):
    parsed = parse_feed((DEMO_FEEDS / name).read_bytes(), "http://x/f", "Src", NOW)
    assert len(parsed.articles) == count and not parsed.skipped
    for article in parsed.articles:
        assert "utm_" not in article.url and "#" not in article.url and "?ref" not in article.url
        assert article.body and "<p>" not in article.body
        assert article.published_at is not None and article.source == "Src"


def test_rss_0_91_and_items_without_link():
    feed = (b'<?xml version="1.0"?><rss version="0.91"><channel><title>t</title>'
            b"<item><title>A</title><link>http://e.org/a</link><description>Text a</description>"
            b"</item><item><title>No link</title><description>x</description></item>"
            b"</channel></rss>")
    parsed = parse_feed(feed, "http://e.org/f", "E", NOW)
    assert [a.url for a in parsed.articles] == ["http://e.org/a"]
    assert parsed.skipped == ["item 1: no link"]


@pytest.mark.parametrize("content", [b"<html><body>Not a feed</body></html>", b"\x00\x01garbage"])
def test_not_a_feed_is_an_error(content):
    with pytest.raises(FeedError):
        parse_feed(content, "http://e.org/f", "E", NOW)


def test_truncated_feed_with_entries_is_used_with_a_warning():
    content = (DEMO_FEEDS / "wire-a.xml").read_bytes()
    cut = content[: content.rindex(b"</item>") + len(b"</item>")]
    parsed = parse_feed(cut, "http://e.org/f", "E", NOW)
    assert len(parsed.articles) == 3 and parsed.warning


def test_polling_predicates():
    assert not is_modified(304) and is_modified(200)
    assert is_rate_limited(429) and is_rate_limited(503) and not is_rate_limited(500)
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds("Tue, 06 Jan 2026 12:01:00 GMT", NOW) == 60
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_feed_state_remembers_a_bounded_set():
    state = FeedState()
    state.remember(["a", "b", "c"], limit=4)
    state.remember(["c", "d", "e"], limit=4)
    assert state.seen == ["b", "c", "d", "e"]
    assert FeedState.from_json(state.to_json()) == state


def test_feeds_file_errors_name_the_entry(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - url: ftp://x\n    source: X\n")
    with pytest.raises(FeedsFileError, match=r"feeds.yaml: feeds.0.url"):
        load_feeds(path)
    path.write_text("feeds: [\n")
    with pytest.raises(FeedsFileError, match="not valid YAML"):
        load_feeds(path)
