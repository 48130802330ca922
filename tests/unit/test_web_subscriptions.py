"""Subscriptions managed through the web view, without a broker: the writer applies the
records to the store as the feed would. The API and the form validate with the same
model, webhook URLs never leave the server, and a rule is tried on the history first."""

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from schemas.subscription import Rules, Subscription
from services.web.app import create_app
from services.web.pages import form_subscription, subscription_form
from services.web.rules import highlight, try_rule
from services.web.store import HistoryStore
from tests.unit.test_web_store import classified

TOKEN = "subs-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOOK = "https://hooks.slack.example/T000/B000/very-secret"


@pytest.fixture
def store():
    db = HistoryStore(":memory:")
    now = datetime.now(UTC)
    db.add_classified(classified(1, "Drones over Kiev again", "Air defence worked all night.",
                                 topics=["strikes"], start=now))
    db.add_classified(classified(2, "Grain deal talks", "Delegations met in Istanbul.",
                                 topics=["diplomacy"], start=now))
    yield db
    db.close()


@pytest.fixture
def client(store):
    written: list[tuple[str, bytes | None]] = []

    async def writer(name: str, value: bytes | None) -> None:
        written.append((name, value))
        store.put_subscription(name, value)

    with TestClient(create_app(store, TOKEN, writer=writer), follow_redirects=False) as c:
        c.written = written  # type: ignore[attr-defined]
        yield c


def body(name="desk", keywords=("Kyiv",), **extra):
    return {"name": name, "channels": {"slack": HOOK}, "rules": {"keywords": list(keywords)},
            **extra}


def test_the_api_creates_replaces_and_deletes_with_webhooks_masked(client):
    created = client.post("/api/subscriptions", json=body(), headers=AUTH)
    assert created.status_code == 202 and "very-secret" not in created.text
    assert client.post("/api/subscriptions", json=body(), headers=AUTH).status_code == 409
    listed = client.get("/api/subscriptions", headers=AUTH).json()
    assert [s["channels"]["slack"] for s in listed] == ["https://hooks.slack.example/…"]
    assert client.put("/api/subscriptions/desk", json=body(keywords=["Odesa"]),
                      headers=AUTH).status_code == 202
    assert client.get("/api/subscriptions", headers=AUTH).json()[0]["rules"]["keywords"] == [
        "Odesa"]
    assert client.put("/api/subscriptions/other", json=body(), headers=AUTH).status_code == 422
    assert client.delete("/api/subscriptions/desk", headers=AUTH).status_code == 202
    assert client.get("/api/subscriptions", headers=AUTH).json() == []
    assert client.written[-1] == ("desk", None)  # a tombstone


def test_the_api_refuses_a_bad_subscription_naming_the_field(client):
    bad = body(channels={"email": "nobody"})
    response = client.post("/api/subscriptions", json=bad, headers=AUTH)
    assert response.status_code == 422 and "email" in response.text
    assert client.post("/api/subscriptions", json=body()).status_code == 401
    assert client.written == []


def test_a_rule_is_tried_on_the_history_with_the_notifiers_matcher(client):
    result = client.post("/api/rules/test", json={"rules": {"keywords": ["Kyiv"]}, "days": 3},
                         headers=AUTH).json()
    assert result["articles"] == 2
    assert [m["story_id"] for m in result["matches"]] == ["a1"]  # Kiev is Kyiv
    assert sum(result["per_day"].values()) == 1


def signed_in(client):
    client.post("/signin", data={"token": TOKEN})
    page = client.get("/subscriptions").text
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match is not None
    return match.group(1)


def test_the_form_shows_errors_inline_and_saves_a_valid_subscription(client):
    csrf = signed_in(client)
    form = {"csrf": csrf, "name": "desk", "keywords": 'Kyiv "air defence"', "match": "any",
            "email": "not-an-address", "action": "save"}
    refused = client.post("/subscriptions", data=form)
    assert refused.status_code == 422 and "channels.email" in refused.text
    assert 'value="Kyiv &#34;air defence&#34;"' in refused.text  # what was typed stays
    saved = client.post("/subscriptions", data={**form, "email": "desk@example.org",
                                                "slack": HOOK})
    assert saved.status_code == 303 and client.written[-1][0] == "desk"
    page = client.get("/subscriptions").text
    assert "very-secret" not in page and "https://hooks.slack.example/…" in page
    # Edited with the Slack field left blank: the webhook stays.
    client.post("/subscriptions", data={**form, "email": "desk@example.org",
                                        "keywords": "Odesa"})
    stored = client.app.state.store.subscription("desk")
    assert stored.channels.slack.get_secret_value() == HOOK
    assert stored.rules.keywords == ["Odesa"]


def test_the_form_tests_a_rule_before_saving_it(client):
    csrf = signed_in(client)
    page = client.post("/subscriptions", data={
        "csrf": csrf, "name": "probe", "keywords": "Kyiv", "email": "a@b.org",
        "action": "test", "days": "7"})
    assert page.status_code == 200 and client.written == []
    assert "would have matched 1 of 2 stories" in page.text
    assert "<mark>Kiev</mark>" in page.text


def test_mute_and_delete_need_the_forms_csrf_token(client):
    client.post("/api/subscriptions", json=body(), headers=AUTH)
    csrf = signed_in(client)
    assert client.post("/subscriptions/desk/delete", data={"csrf": "x"}).status_code == 403
    client.post("/subscriptions/desk/mute", data={"csrf": csrf, "hours": "8"})
    muted = client.app.state.store.subscription("desk").muted_until
    assert muted is not None and muted > datetime.now(UTC)
    assert "muted until" in client.get("/subscriptions").text
    client.post("/subscriptions/desk/delete", data={"csrf": csrf})
    assert client.app.state.store.subscription("desk") is None


def test_the_edit_form_reads_back_as_the_subscription_it_shows():
    sub = Subscription.model_validate({
        "name": "front", "owner": "desk", "description": "the front line",
        "channels": {"slack": "https://hooks.slack.com/services/T/B/x", "email": "d@e.org"},
        "rules": {"keywords": ["Pokrovsk", "front line"], "exclude": ["football match"],
                  "topics": ["ground-combat"], "sources": ["Wire A"], "match": "all",
                  "given_names": "variants"}})
    form = subscription_form(sub)
    assert "slack" not in form  # the webhook is never shown
    assert form_subscription(form, sub) == sub


def test_highlighting_knows_the_spellings():
    parts = highlight("Drones over Kiev, again", frozenset({"kyiv"}))
    assert [p for p, hit in parts if hit] == ["Kiev"]
    trial = try_rule(Rules(keywords=["Odesa"]), [])
    assert trial.articles == 0 and trial.matches == []


def test_a_signed_in_browser_may_read_the_api_but_not_write_with_its_cookie(client):
    signed_in(client)
    assert client.get("/api/stories").status_code == 200
    assert client.get("/api/topics/trends").status_code == 200
    assert client.post("/api/subscriptions", json=body()).status_code == 401
    assert client.delete("/api/subscriptions/desk").status_code == 401
    assert client.written == []
