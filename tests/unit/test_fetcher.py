import asyncio
import ipaddress
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from services.fetcher.app import Fetcher
from services.fetcher.feeds import (
    FeedConfig,
    FeedError,
    FeedItem,
    FeedsFileError,
    article_id,
    canonical_url,
    html_to_text,
    item_ids,
    load_feeds,
    parse_feed,
)
from services.fetcher.netguard import AddressGuard, BlockedAddress, is_public_address
from services.fetcher.polling import FeedState, is_modified
from services.fetcher.settings import Settings
from wirewatch.deadletters import MAX_PAYLOAD, make_dead_letter
from wirewatch.http import is_transient_status, retry_after_seconds

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
            b"<item><title></title><description></description></item>"
            b"</channel></rss>")
    parsed = parse_feed(feed, "http://e.org/f", "E", NOW)
    # An item without a link is still an article, known by its content, at the feed's URL.
    assert [a.url for a in parsed.articles] == ["http://e.org/a", "http://e.org/f"]
    assert parsed.articles[0].id == article_id("http://e.org/a")
    assert parsed.skipped == ["item 2: no title and no text"]


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
    assert all(is_transient_status(c) for c in (408, 429, 500, 503))
    assert not any(is_transient_status(c) for c in (200, 304, 404, 410))
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds("Tue, 06 Jan 2026 12:01:00 GMT", NOW) == 60
    assert retry_after_seconds("Tue, 06 Jan 2026 11:00:00 GMT", NOW) == 0  # in the past
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_feed_state_keeps_every_id_the_feed_still_lists():
    state = FeedState()
    state.remember(["a", "b", "c"], ["a", "b", "c"], limit=4)
    state.remember(["c", "d", "e"], ["d", "e"], limit=4)
    assert state.seen == ["b", "c", "d", "e"]  # "a" is gone from the feed and the oldest
    assert FeedState.from_json(state.to_json()) == state
    big = [f"i{n}" for n in range(250)]
    state.remember(big, big, limit=100)
    assert set(big) <= set(state.seen)  # more items than the limit: none forgotten
    state.remember(big[:10], [], limit=100)
    assert set(big[:10]) <= set(state.seen) and len(state.seen) == 100


def test_an_unpublished_item_is_not_remembered():
    state = FeedState()
    state.remember(["a", "b"], ["a"], limit=100)  # "b" was not acknowledged
    assert state.seen == ["a"]


def test_feeds_file_errors_name_the_entry(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - url: ftp://x\n    source: X\n")
    with pytest.raises(FeedsFileError, match=r"feeds.yaml: feeds.0.url"):
        load_feeds(path)
    path.write_text("feeds: [\n")
    with pytest.raises(FeedsFileError, match="not valid YAML"):
        load_feeds(path)


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://e.org/feed", "only http and https"),
    ("e.org/feed", "only http and https"),
    ("http:///feed", "no host"),
    ("http://e.org:99999/feed", "not a usable URL"),
])
def test_an_unusable_feed_url_is_refused_at_load(tmp_path, url, reason):
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds:\n  - url: http://fine.example/rss\n    source: A\n"
                    f"  - url: '{url}'\n    source: B\n")
    with pytest.raises(FeedsFileError, match=rf"feeds.yaml: feeds.1.url: .*{reason}"):
        load_feeds(path)


def test_a_private_address_is_refused_at_load_unless_allowed(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - url: http://169.254.169.254/latest\n    source: A\n")
    with pytest.raises(FeedsFileError, match=r"feeds.0.url: .*non-public address"):
        load_feeds(path, AddressGuard())
    assert load_feeds(path, AddressGuard(allow_private=True))
    assert load_feeds(path, AddressGuard.from_cidrs(False, ["169.254.0.0/16"]))


@pytest.mark.parametrize(("markup", "text"), [
    ("Kyiv&nbsp;region &amp; Odesa", "Kyiv region & Odesa"),
    ("&lt;p&gt;First&lt;/p&gt;&lt;p&gt;Second &amp;amp; third&lt;/p&gt;",
     "First\n\nSecond & third"),
    ("5 &lt; 7, said the &quot;expert&quot;", '5 < 7, said the "expert"'),
    ("<p>Kyiv&#160;region</p>", "Kyiv region"),
])
def test_entities_are_decoded_and_escaped_markup_cleaned(markup, text):
    assert html_to_text(markup) == text


def _item(guid: str = "", link: str = "", title: str = "T", body: str = "B") -> FeedItem:
    return FeedItem(guid=guid, link=link, title=title, body=body)


def test_item_ids_from_guid_then_link_then_content():
    episodes = [_item(guid=f"ep-{n}", link="https://pod.example/show", title=f"Episode {n}")
                for n in range(40)]
    ids = item_ids("https://pod.example/rss", episodes)
    assert len(set(ids)) == 40  # one shared link, forty episodes
    assert ids == item_ids("https://pod.example/rss", episodes)  # stable across polls
    # A guid the publisher gave twice falls back to the links, then to the content.
    twice = [_item(guid="x", link="https://e.org/1"), _item(guid="x", link="https://e.org/2"),
             _item(guid="y", link="https://e.org/3", body="one"),
             _item(guid="y", link="https://e.org/3", body="two")]
    ids = item_ids("https://e.org/rss", twice)
    assert len(set(ids)) == 4 and ids[0] == article_id("https://e.org/1")
    assert item_ids("https://e.org/rss", [_item(link="https://e.org/a?utm_source=x")]) == [
        article_id("https://e.org/a")]


def test_charset_from_the_http_header_alone():
    text = "Удар по Харкову"
    feed = ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
            f"<title>{text}</title><link>https://e.org/a</link>"
            f"<description>{text}, сказав губернатор.</description></item></channel></rss>")
    parsed = parse_feed(feed.encode("windows-1251"), "https://e.org/f", "E", NOW,
                        "application/rss+xml; charset=windows-1251")
    assert parsed.articles[0].title == text
    # A byte-order mark says UTF-8 when the header says nothing.
    parsed = parse_feed(b"\xef\xbb\xbf" + feed.encode(), "https://e.org/f", "E", NOW,
                        "application/rss+xml")
    assert parsed.articles[0].title == text


@pytest.mark.parametrize("version", ["https://jsonfeed.org/version/1",
                                     "https://jsonfeed.org/version/1.1"])
def test_json_feed_is_read_like_rss(version):
    feed = {"version": version, "title": "Wire", "language": "en", "items": [
        {"id": 1, "url": "https://e.org/a?utm_medium=feed", "title": "Grid hit",
         "content_html": "<p>Missiles struck&nbsp;the grid.</p><p>Power is out.</p>",
         "date_published": "2026-01-06T10:00:00Z", "authors": [{"name": "A. Writer"}]},
        {"id": "2", "content_text": "A short item with no title and no link."},
        {"url": "https://e.org/no-id", "title": "No id"},
    ]}
    parsed = parse_feed(orjson.dumps(feed), "https://e.org/feed.json", "E", NOW,
                        "application/feed+json")
    first, second = parsed.articles
    assert first.url == "https://e.org/a"
    assert first.body == "Missiles struck the grid.\n\nPower is out."
    assert first.published_at == datetime(2026, 1, 6, 10, tzinfo=UTC)
    assert first.author == "A. Writer" and first.language == "en"
    assert second.body.startswith("A short item") and second.url == "https://e.org/feed.json"
    assert len(parsed.skipped) == 1 and parsed.skipped[0].startswith("item 2: id")


def test_a_json_document_that_is_not_a_json_feed_is_an_error():
    with pytest.raises(FeedError, match="not a JSON Feed: version"):
        parse_feed(b'{"items": []}', "https://e.org/f", "E", NOW, "application/json")
    with pytest.raises(FeedError, match="not a readable JSON Feed"):
        parse_feed(b'{"version": ', "https://e.org/f", "E", NOW, "application/json")


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("2606:2800:220:1::1", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("240.0.0.1", False), ("::1", False), ("fe80::1", False), ("fc00::1", False),
    ("::ffff:10.0.0.1", False), ("::ffff:93.184.216.34", True), ("64:ff9b::a00:1", False),
])
def test_public_addresses(address, public):
    assert is_public_address(ipaddress.ip_address(address)) is public


async def test_the_guard_resolves_names_and_refuses_private_ones():
    guard = AddressGuard()
    with pytest.raises(BlockedAddress, match="'localhost' resolves to a non-public address"):
        await guard.check("http://localhost:8080/feed")
    with pytest.raises(BlockedAddress, match="only http and https"):
        await guard.check("file:///etc/passwd")
    await AddressGuard.from_cidrs(False, ["127.0.0.0/8", "::1/128"]).check("http://localhost/")
    await AddressGuard(allow_private=True).check("http://10.0.0.1/")


def test_a_dead_letter_cuts_a_payload_too_large_to_send():
    payload = ("Ж" * 700_000).encode()
    letter = make_dead_letter(stage="fetcher.publish", error="too large", payload=payload)
    assert letter.truncated and len(letter.payload.encode()) <= MAX_PAYLOAD
    assert letter.payload == "Ж" * (MAX_PAYLOAD // 2)
    assert "1,400,000 bytes cut to its first 256,000" in letter.error
    small = make_dead_letter(stage="s", error="bad", payload=b"\xff\x00")
    assert not small.truncated and small.payload == "base64:/wA="
    assert len(letter.to_bytes()) < 1_000_000


async def test_a_poll_that_fails_unexpectedly_waits_its_backoff(caplog):
    feed = FeedConfig(url="https://e.org/rss", source="E", interval=30)
    async with httpx.AsyncClient() as client:
        fetcher = Fetcher(Settings(), [feed], client)

        async def broken(_: FeedConfig) -> float:
            raise RuntimeError("a bug")

        fetcher.poll = broken  # type: ignore[method-assign]
        loop = asyncio.get_running_loop()
        for failures in (1, 2):
            await fetcher._poll_guarded(feed)
            wait = fetcher.due[feed.url] - loop.time()
            # Backoff from the feed's interval, doubling, ±20 % jitter: never a tight loop.
            assert 30 * 2 ** (failures - 1) * 0.79 <= wait <= 30 * 2 ** (failures - 1) * 1.2
    state = fetcher.states[feed.url]
    assert state.failures == 2 and state.last_error == "RuntimeError: a bug"
    logged = [r for r in caplog.records if r.getMessage() == "feed poll failed"]
    assert len(logged) == 2 and logged[0].feed == "https://e.org/rss"
