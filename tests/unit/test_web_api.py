"""The web view's API over a store in memory, without a broker: the token, the stream and
a story as JSON, the security headers, and the token kept across starts."""

import pytest
from fastapi.testclient import TestClient

from services.web.app import create_app
from services.web.auth import resolve_token
from services.web.store import HistoryStore
from tests.unit.test_web_store import classified, copy_of

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client():
    store = HistoryStore(":memory:")
    port = classified(1, "Strike on the port of <b>Odesa</b>", "Missiles hit grain silos.",
                      topics=["strikes"], hours=1)
    store.add_classified(port)
    store.add_copy(copy_of(port, 1, "Daily B", 2))
    store.add_classified(classified(2, "Talks resume", "Delegations met.",
                                    topics=["diplomacy"], hours=3))
    with TestClient(create_app(store, TOKEN, status=lambda: {"feed": {"caught_up": True}})
                    ) as test_client:
        yield test_client
    store.close()


@pytest.mark.parametrize("path", ["/api/stories", "/api/stories/a1", "/api/openapi.json"])
def test_every_api_call_needs_the_token(client, path):
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, headers=AUTH).status_code == 200


def test_health_needs_no_token_and_tells_the_store_and_feed(client):
    assert client.get("/healthz").json() == {"store": {"stories": 2},
                                             "feed": {"caught_up": True}}


def test_stories_newest_first_with_filters(client):
    items = client.get("/api/stories", headers=AUTH).json()
    assert [(i["article"]["id"], i["copy_count"], i["topics"]) for i in items] == [
        ("a2", 0, ["diplomacy"]), ("a1", 1, ["strikes"])]
    assert [i["article"]["id"] for i in client.get(
        "/api/stories", params={"q": "grain", "topic": "strikes"}, headers=AUTH).json()] == ["a1"]
    assert client.get("/api/stories", params={"since": "2026-03-02T10:00:00Z"},
                      headers=AUTH).json()[0]["article"]["id"] == "a2"
    assert client.get("/api/stories", params={"limit": 0}, headers=AUTH).status_code == 422


def test_a_story_with_its_copies_and_topics(client):
    story = client.get("/api/stories/a1", headers=AUTH).json()
    assert story["origin"]["title"] == "Strike on the port of <b>Odesa</b>"  # data, as is
    assert [(c["id"], c["source"]) for c in story["copies"]] == [("c1", "Daily B")]
    assert [t["topic"] for t in story["topics"]] == ["strikes"]
    assert client.get("/api/stories/nope", headers=AUTH).status_code == 404


def test_responses_forbid_inline_script_and_framing(client):
    headers = client.get("/healthz").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


def test_the_api_is_described_as_openapi(client):
    paths = client.get("/api/openapi.json", headers=AUTH).json()["paths"]
    assert {"/api/stories", "/api/stories/{story_id}", "/healthz"} <= set(paths)


def test_a_token_is_made_once_and_kept(tmp_path):
    path = tmp_path / "web" / "token"
    token, made = resolve_token(None, path)
    assert made and len(token) >= 32 and oct(path.stat().st_mode)[-3:] == "600"
    assert resolve_token(None, path) == (token, False)
    assert resolve_token("given", path) == ("given", False)


def test_alerts_per_subscription_and_channel_with_the_last_failure():
    from datetime import timedelta

    from schemas.alert import Alert
    from tests.unit.test_web_store import T0

    store = HistoryStore(":memory:")

    def alert(story: str, outcome: str, minutes: int, error: str | None = None) -> Alert:
        return Alert(subscription_id="desk", article_id=story, story_id=story, title="t",
                     url="https://e.org", source="Wire", reasons=["keywords: x"],
                     channel="slack", outcome=outcome, attempts=1, error=error,
                     created_at=T0 + timedelta(minutes=minutes))

    for record in (alert("a1", "delivered", 1), alert("a2", "failed", 2, "HTTP 404"),
                   alert("a3", "delivered", 3)):
        store.add_alert(record)
    with TestClient(create_app(store, TOKEN)) as client:
        (summary,) = client.get("/api/alerts", headers=AUTH).json()
        assert (summary["delivered"], summary["failed"], summary["last_outcome"],
                summary["last_error"]) == (2, 1, "delivered", "HTTP 404")
        client.post("/signin", data={"token": TOKEN})
        page = client.get("/alerts").text
        assert "HTTP 404" in page and 'href="/stories/a2"' in page
    store.close()


def test_topic_trends_count_stories_per_topic_per_bucket():
    from datetime import UTC, datetime, timedelta

    store = HistoryStore(":memory:")
    now = datetime.now(UTC)
    for n, (topics, hours_ago) in enumerate([(["strikes"], 1), (["strikes", "energy"], 2),
                                              (["energy"], 30), (["diplomacy"], 24 * 40)]):
        store.add_classified(classified(n, f"Story {n}", "Text.", topics=topics,
                                        start=now - timedelta(hours=hours_ago)))
    with TestClient(create_app(store, TOKEN)) as client:
        day = client.get("/api/topics/trends", params={"window": "24h"}, headers=AUTH).json()
        assert day["bucket"] == "hour" and len(day["starts"]) in (24, 25)
        assert {t: sum(c) for t, c in day["series"].items()} == {"energy": 1, "strikes": 2}
        month = client.get("/api/topics/trends", params={"window": "30d"},
                           headers=AUTH).json()
        assert month["bucket"] == "day"
        assert {t: sum(c) for t, c in month["series"].items()} == {"energy": 2, "strikes": 2}
        assert client.get("/api/topics/trends", params={"window": "1y"},
                          headers=AUTH).status_code == 422
        client.post("/signin", data={"token": TOKEN})
        page = client.get("/topics?window=30d").text
        assert '<script src="/static/vendor/uPlot.iife.min.js" defer></script>' in page
        assert '<a href="/?topic=energy">energy</a></td><td>2</td>' in page
        assert client.get("/static/vendor/uPlot.iife.min.js").status_code == 200
    store.close()


def test_deliveries_being_retried_show_from_the_notifiers_pending_record():
    import orjson

    from services.notifier.deliveries import PendingSlot, PendingStory

    store = HistoryStore(":memory:")
    article = classified(1, "Port hit", "Missiles hit silos.")
    pending = PendingStory(article, slots={
        "desk/slack": PendingSlot("desk", "slack", ["keywords: port"], 10.0, 99.0,
                                  attempts=3, last_error="slack: HTTP 503"),
        "desk/email": PendingSlot("desk", "email", ["keywords: port"], 10.0, 10.0)})
    store.put_pending("a1", orjson.dumps(pending.to_json()))
    with TestClient(create_app(store, TOKEN)) as client:
        (summary,) = client.get("/api/alerts", headers=AUTH).json()
        assert (summary["subscription_id"], summary["channel"], summary["retrying"],
                summary["last_error"]) == ("desk", "slack", 1, "slack: HTTP 503")
        client.post("/signin", data={"token": TOKEN})
        assert "3 attempt(s)" in client.get("/alerts").text
        store.put_pending("a1", None)  # delivered or given up: no longer retrying
        assert client.get("/api/alerts", headers=AUTH).json() == []
        assert client.get("/api/feeds", headers=AUTH).json() == []
    store.close()
