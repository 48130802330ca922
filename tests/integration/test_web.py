"""The web view on the real broker: what is published to the public topics shows in its
API, and a restarted replica reads on from its store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from devrig.localrig import free_port
from tests.integration.conftest import publish
from tests.unit.test_web_store import classified, copy_of, trail

TOKEN = "integration-token"


async def _get(url: str, until, timeout: float = 60) -> object:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for _ in range(int(timeout * 10)):
            try:
                response = await client.get(url)
                if response.status_code == 200 and until(response.json()):
                    return response.json()
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url}: never as expected")


async def test_published_stories_show_in_the_api_and_survive_a_restart(
        namespace, bootstrap, make_pipeline, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pipeline = make_pipeline({"WEB_PORT": str(port), "WEB_TOKEN": TOKEN})
    # Fetched now: the store keeps what was fetched in the last WEB_RETENTION_DAYS.
    now = datetime.now(UTC) - timedelta(hours=6)
    story = classified(1, "Strike on the port of Odesa", "Missiles hit grain silos.",
                       topics=["strikes"], start=now)
    copies = [copy_of(story, 1, "Daily B", 1), copy_of(story, 2, "Radio C", 2)]
    await publish(bootstrap, namespace + "articles.classified",
                  [(b"a1", story.to_bytes())])
    await publish(bootstrap, namespace + "articles.duplicates",
                  [(c.id.encode(), c.to_bytes()) for c in copies])
    await publish(bootstrap, namespace + "stories", [(b"a1", trail(story, copies).to_bytes())])
    pipeline.start(only=("web",))

    items = await _get(f"{base}/api/stories", lambda items: items and items[0]["copy_count"] == 2)
    assert [i["article"]["id"] for i in items] == ["a1"]  # type: ignore[union-attr]
    view = await _get(f"{base}/api/stories/a1", lambda v: len(v["copies"]) == 2)
    assert [c["source"] for c in view["copies"]] == ["Daily B", "Radio C"]  # type: ignore[index]

    (web,) = pipeline.of("web")
    await web.stop()
    await publish(bootstrap, namespace + "articles.classified",
                  [(b"a2", classified(2, "Talks resume", "Delegations met.",
                                      hours=5, start=now).to_bytes())])
    pipeline.start(only=("web",))
    health = await _get(f"{base}/healthz", lambda h: h["feed"]["caught_up"]
                        and h["store"]["stories"] == 2)
    assert health == {"store": {"stories": 2}, "feed": {"caught_up": True}}
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{base}/api/stories")).status_code == 401
