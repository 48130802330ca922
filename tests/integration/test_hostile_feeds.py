"""The fetcher against hostile feed servers on 127.0.0.1: bombs, endless and slow bodies,
redirects into the private network, odd charsets and formats, huge items and huge feeds.

The download tests need no broker; the fetcher tests run it on the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from aiohttp import web

from devrig.localrig import LoopbackHttp, gzip_bomb, peak_rss_mb
from schemas.article_raw import RawArticle
from schemas.deadletter import DeadLetter
from schemas.topics import ARTICLES_RAW, DEADLETTERS, TopicSpec
from services.fetcher.app import Fetcher
from services.fetcher.download import download
from services.fetcher.feeds import FeedConfig, FeedError, parse_feed
from services.fetcher.netguard import AddressGuard
from services.fetcher.settings import Settings
from tests.integration.conftest import until
from wirewatch.kafka import consume, read_topic

LOOPBACK_ONLY = AddressGuard.from_cidrs(False, ["127.0.0.1/32"])  # nothing else private
MB = 1_000_000


def _rss(items: list[tuple[str, str, str]], guid: bool = False) -> bytes:
    parts = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>']
    for n, (link, title, body) in enumerate(items):
        g = f"<guid isPermaLink='false'>item-{n}</guid>" if guid else ""
        parts.append(f"<item>{g}<title>{title}</title><link>{link}</link>"
                     f"<description>{body}</description></item>")
    return ("".join(parts) + "</channel></rss>").encode()


class Hostile(LoopbackHttp):
    """Routes that misbehave in the ways a hostile or broken feed server can."""

    def __init__(self) -> None:
        super().__init__()
        self.bomb = gzip_bomb(300 * MB)  # ~300 kB on the wire
        self.files: dict[str, tuple[bytes, str]] = {}
        self.slow_started = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path}"

    async def _bomb(self, request: web.Request) -> web.Response:
        return web.Response(body=self.bomb, headers={"Content-Encoding": "gzip",
                                                     "Content-Type": "application/rss+xml"})

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        chunk = b"<item><title>more</title></item>" * 2000
        with contextlib.suppress(ConnectionError):
            for _ in range(20_000):  # ~1.3 GB if nobody stops reading
                await response.write(chunk)
        return response

    async def _announced(self, request: web.Request) -> web.Response:
        return web.Response(status=200, headers={"Content-Length": str(50 * MB)})

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        self.slow_started += 1
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for byte in _rss([("https://e.org/slow", "Slow", "Slow")])[:120]:
                await response.write(bytes([byte]))
                await asyncio.sleep(0.5)
        return response

    async def _redirect(self, request: web.Request) -> web.Response:
        target = request.query["to"]
        return web.Response(status=302, headers={"Location": target})

    async def _loop(self, request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/loop"})

    async def _file(self, request: web.Request) -> web.Response:
        body, content_type = self.files[request.match_info["name"]]
        return web.Response(body=body, headers={"Content-Type": content_type})

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/bomb", self._bomb)
        app.router.add_get("/endless", self._endless)
        app.router.add_get("/announced", self._announced)
        app.router.add_get("/drip/{n}", self._drip)
        app.router.add_get("/redirect", self._redirect)
        app.router.add_get("/loop", self._loop)
        app.router.add_get("/files/{name}", self._file)


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    server = Hostile()
    await server.start()
    yield server
    await server.stop()


async def _get(url: str, *, timeout: float = 10, max_bytes: int = 10 * MB,
               guard: AddressGuard = LOOPBACK_ONLY) -> bytes:
    async with httpx.AsyncClient() as client:
        got = await download(client, url, {}, guard=guard, timeout=timeout, max_bytes=max_bytes)
        return got.content


def _peak_rss_mb() -> float:
    peak = peak_rss_mb()
    assert peak is not None, "needs Linux /proc"
    return peak


async def test_a_gzip_bomb_is_stopped_at_the_cap_and_memory_stays_flat(hostile):
    before = _peak_rss_mb()
    with pytest.raises(FeedError, match=r"over the 10,000,000-byte limit .* after decompression"):
        await _get(hostile.url("bomb"))
    # 300 MB once inflated; reading it whole would raise this process's peak by as much.
    assert _peak_rss_mb() - before < 150


async def test_an_endless_body_is_cut_at_the_cap(hostile):
    with pytest.raises(FeedError, match="over the 1,000,000-byte limit"):
        await _get(hostile.url("endless"), max_bytes=MB)


async def test_an_announced_oversize_body_is_not_read(hostile):
    with pytest.raises(FeedError, match="50,000,000 bytes announced"):
        await _get(hostile.url("announced"), max_bytes=MB)


async def test_a_slow_drip_is_cut_at_the_deadline_of_the_whole_fetch(hostile):
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(FeedError, match=r"no complete response within 1 s"):
        await _get(hostile.url("drip/0"), timeout=1)
    # Every byte arrives well within any per-read timeout; only a deadline stops it
    # (the whole body would take a minute).
    assert loop.time() - started < 10


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/",
                                    "http://10.0.0.1/feed", "http://[::1]/feed",
                                    "file:///etc/passwd"])
async def test_a_redirect_into_the_private_network_is_refused(hostile, target):
    with pytest.raises(FeedError, match="refused"):
        await _get(hostile.url("redirect") + "?to=" + target)


async def test_redirects_are_followed_a_bounded_number_of_times(hostile):
    hostile.files["ok"] = (_rss([("https://e.org/a", "A", "Body")]), "application/rss+xml")
    content = await _get(hostile.url("redirect") + "?to=/files/ok")
    assert b"https://e.org/a" in content
    with pytest.raises(FeedError, match="more than 5 redirects"):
        await _get(hostile.url("loop"))


async def test_without_an_allowance_loopback_itself_is_refused(hostile):
    with pytest.raises(FeedError, match="non-public address"):
        await _get(hostile.url("files/ok"), guard=AddressGuard())


async def test_a_charset_given_only_in_the_http_header(hostile):
    title = "Обстріл Харкова"
    feed = _rss([("https://e.org/k", title, "Текст новини")]).replace(
        b'encoding="utf-8"', b"")
    hostile.files["cp1251"] = (feed.decode().encode("windows-1251"),
                               "text/xml; charset=windows-1251")
    async with httpx.AsyncClient() as client:
        got = await download(client, hostile.url("files/cp1251"), {}, guard=LOOPBACK_ONLY,
                             timeout=10, max_bytes=MB)
    parsed = parse_feed(got.content, "u", "S", datetime.now(UTC), got.headers["Content-Type"])
    assert parsed.articles[0].title == title


async def _records(bootstrap: str, topic: str, want: int, idle: float = 20.0) -> list[bytes]:
    out: list[bytes] = []
    async for record in consume(bootstrap, [topic], idle_timeout=idle):
        out.append(record.value)
        if len(out) >= want:
            break
    return out


async def _everything(bootstrap: str, namespace: str, spec: TopicSpec) -> list[bytes]:
    return await read_topic(bootstrap, namespace + spec.name, spec.partitions)


async def test_the_fetcher_against_hostile_feeds_on_the_broker(bootstrap, namespace, hostile):
    """Slow feeds do not starve the others; a huge item is dead-lettered and its feed's
    other items published; a feed of 32,000 items is published once, across polls and a
    restart; JSON Feed and shared links are read."""
    big_body = "word " * 250_000  # ~1.25 MB of text in one item
    hostile.files["huge-item"] = (_rss([("https://e.org/huge", "Huge", big_body),
                                        ("https://e.org/normal", "Normal", "Normal text")]),
                                  "application/rss+xml")
    # Its state (the ids it still lists) is over a megabyte: more than Kafka's default.
    many = [(f"https://e.org/m/{n}", f"Item {n}", f"Text {n}") for n in range(32_000)]
    hostile.files["many"] = (_rss(many), "application/rss+xml")
    episodes = [("https://pod.example/show", f"Episode {n}", f"Notes {n}") for n in range(40)]
    hostile.files["podcast"] = (_rss(episodes, guid=True), "application/rss+xml")
    hostile.files["json"] = (orjson.dumps({
        "version": "https://jsonfeed.org/version/1.1", "items": [
            {"id": "j1", "url": "https://e.org/json", "title": "From JSON",
             "content_text": "Kyiv&nbsp;region"}]}), "application/feed+json")
    slow = [FeedConfig(url=hostile.url(f"drip/{n}"), source=f"Slow {n}", interval=60)
            for n in range(8)]
    # The good feeds are on another host name than the slow ones.
    good = [FeedConfig(url=hostile.url(f"files/{name}", host="localhost"), source=name,
                       interval=1) for name in ("huge-item", "many", "podcast", "json")]
    settings = Settings.model_validate({
        "WIREWATCH_BOOTSTRAP_SERVERS": bootstrap, "WIREWATCH_NAMESPACE": namespace,
        "timeout": 30, "max_concurrency": 8, "max_per_host": 2,
        "allow_private_networks": True})
    expected = 1 + 32_000 + 40 + 1  # the huge item goes to deadletters

    async def run_fetcher() -> Fetcher:
        client = httpx.AsyncClient(timeout=settings.timeout)  # as the service makes it
        fetcher = Fetcher(settings, slow + good, client)
        fetcher.task = asyncio.create_task(fetcher.run())  # type: ignore[attr-defined]
        fetcher.client_to_close = client  # type: ignore[attr-defined]
        return fetcher

    async def stop(fetcher: Fetcher) -> None:
        fetcher.stop()
        await fetcher.task  # type: ignore[attr-defined]
        await fetcher.client_to_close.aclose()  # type: ignore[attr-defined]

    fetcher = await run_fetcher()
    try:
        raw = await _records(bootstrap, f"{namespace}articles.raw", expected, idle=25)
        assert len(raw) == expected
        assert hostile.slow_started >= 1  # the slow feeds were being fetched meanwhile
        assert hostile.slow_started <= 2  # two at a time from their host, never all eight
        # Polled again several times since: nothing new is published.
        polls = {f.url: fetcher.polls[f.url] for f in good}
        await until(lambda: all(fetcher.polls[u] >= n + 2 for u, n in polls.items()),
                     "two more polls of each feed")
    finally:
        await stop(fetcher)
    fetcher = await run_fetcher()  # a restart reads the state back from fetcher.state
    try:
        await until(lambda: all(fetcher.polls[f.url] >= 2 for f in good),
                     "two polls after the restart")
    finally:
        await stop(fetcher)
    raw = await _everything(bootstrap, namespace, ARTICLES_RAW)
    articles = [RawArticle.from_bytes(v) for v in raw]
    assert len(articles) == expected and len({a.id for a in articles}) == expected
    by_source = {a.source for a in articles}
    assert {"huge-item", "many", "podcast", "json"} <= by_source
    assert next(a for a in articles if a.source == "json").body == "Kyiv region"
    letters = [DeadLetter.from_bytes(v)
               for v in await _everything(bootstrap, namespace, DEADLETTERS)]
    assert len(letters) == 1 and letters[0].stage == "fetcher.publish"
    assert letters[0].truncated and "FETCHER_MAX_ITEM_BYTES" in letters[0].error
