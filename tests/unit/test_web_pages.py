"""The web view's pages without a browser: sign-in, the stream and a story rendered on
the server, hostile text escaped, forms protected against cross-site posts."""

import re

import pytest
from fastapi.testclient import TestClient

from services.web.app import create_app
from services.web.auth import make_session, valid_session
from services.web.pages import COOKIE, safe_url
from services.web.store import HistoryStore
from tests.unit.test_web_store import classified, copy_of

TOKEN = "page-token"


@pytest.fixture
def client():
    store = HistoryStore(":memory:")
    hostile = classified(1, "<script>alert('x')</script> Port hit", "Missiles hit silos.",
                         topics=["strikes"]).model_copy(update={"url": "javascript:alert(1)"})
    store.add_classified(hostile)
    store.add_copy(copy_of(hostile, 1, "Daily B", 1).model_copy(
        update={"url": "https://daily-b.example/port"}))
    with TestClient(create_app(store, TOKEN), follow_redirects=False) as test_client:
        yield test_client
    store.close()


def signed_in(client: TestClient) -> TestClient:
    response = client.post("/signin", data={"token": TOKEN, "next": "/"})
    assert response.status_code == 303 and COOKIE in response.cookies
    return client


def test_pages_send_a_stranger_to_the_sign_in_form(client):
    response = client.get("/stories/a1")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/stories/a1"
    assert 'name="token"' in client.get("/signin").text


def test_a_wrong_token_is_refused_and_a_right_one_signs_in(client):
    wrong = client.post("/signin", data={"token": "guess", "next": "/"})
    assert wrong.status_code == 401 and "not the access token" in wrong.text
    response = client.post("/signin", data={"token": TOKEN, "next": "/stories/a1"})
    assert response.headers["location"] == "/stories/a1"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example/x",
                                    "https://evil.example/x"])
def test_sign_in_never_redirects_to_another_site(client, target):
    response = client.post("/signin", data={"token": TOKEN, "next": target})
    assert response.headers["location"] == "/"


def test_the_stream_escapes_feed_text_and_links_to_the_story(client):
    page = signed_in(client).get("/").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Port hit" in page
    assert 'href="/stories/a1"' in page and "+1 copies" in page and ">strikes<" in page


def test_the_story_page_shows_copies_evidence_and_no_unsafe_link(client):
    page = signed_in(client).get("/stories/a1").text
    assert "javascript:" not in page
    assert 'href="https://daily-b.example/port"' in page and "Daily B" in page
    assert "<blockquote>strikes sentence</blockquote>" in page
    assert client.get("/stories/none").status_code == 404


def test_sign_out_needs_the_forms_csrf_token(client):
    page = signed_in(client).get("/").text
    assert client.post("/signout", data={"csrf": "forged"}).status_code == 403
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf is not None
    response = client.post("/signout", data={"csrf": csrf.group(1)})
    assert response.status_code == 303 and response.headers["location"] == "/signin"


def test_pages_forbid_inline_script(client):
    policy = client.get("/signin").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_sessions_are_signed_and_expire():
    cookie = make_session(TOKEN, now=1000.0)
    assert valid_session(cookie, TOKEN, now=1001.0)
    assert not valid_session(cookie, "another-token", now=1001.0)
    assert not valid_session(cookie, TOKEN, now=1000.0 + 13 * 3600)
    tampered = cookie[:-1] + ("1" if cookie.endswith("0") else "0")
    assert not valid_session(tampered, TOKEN, now=1001.0)


@pytest.mark.parametrize(("url", "safe"), [
    ("https://e.org/a", True), ("http://e.org", True), ("javascript:alert(1)", False),
    (" JavaScript:alert(1)", False), ("data:text/html,x", False), ("", False)])
def test_only_web_links_are_followed(url, safe):
    assert (safe_url(url) is not None) == safe


def test_the_stream_page_updates_itself_without_inline_script(client):
    page = signed_in(client).get("/").text
    assert '<script src="/static/live.js" defer></script>' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # no inline script
    assert "EventSource" in client.get("/static/live.js").text
    partial = client.get("/partials/stream").text
    assert 'href="/stories/a1"' in partial and "<html" not in partial


def test_live_parts_need_a_session(client):
    assert client.get("/partials/stream").status_code == 401
    assert client.get("/events").status_code == 401


def test_the_event_stream_says_when_stories_change(client):
    store = client.app.state.store
    signed_in(client)
    with client.stream("GET", "/events") as events:
        lines = events.iter_lines()
        assert next(lines).startswith("retry:")
        store.add_classified(classified(9, "Late news", "Text."))
        for line in lines:
            if line.startswith("event:"):
                assert line == "event: stories"
                break


def test_the_feeds_page_lists_each_feed_and_its_last_error(client):
    import orjson

    client.app.state.store.put_feed("https://radio-c.example/feed", orjson.dumps(
        {"source": "Radio C", "checked_at": 1.0, "ok_at": None, "failures": 2,
         "last_error": "HTTP 503 <from the server>"}))
    page = signed_in(client).get("/feeds").text
    assert "Radio C" in page and "HTTP 503 &lt;from the server&gt; (2 in a row)" in page
