"""The web view's HTML pages, rendered on the server and usable without JavaScript.

A browser signs in once with the access token through a form and then holds a signed
session cookie (HttpOnly, SameSite=Strict); every form it posts carries a CSRF token
bound to that session. Every text from feeds is escaped by the templates, and only
http(s) links are rendered as links.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from schemas.subscription import Subscription, mask_webhook
from services.web.auth import (
    SESSION_MAX_AGE,
    csrf_for,
    make_session,
    matches,
    valid_csrf,
    valid_session,
)
from services.web.rules import try_rule
from services.web.store import TREND_WINDOWS, HistoryStore

__all__ = ["COOKIE", "LIVE_POLL", "Writer", "add_pages", "form_subscription",
           "subscription_form"]

# Publishes a subscription record: (name, value, or None for a tombstone).
Writer = Callable[[str, bytes | None], Awaitable[None]]

COOKIE = "wirewatch_session"
LIVE_POLL = 0.5  # s between looks at the store for news, per open page
HEARTBEAT = 15.0  # s between comments that keep an idle event stream open
READ_BACK = 5.0  # s a page that wrote a subscription waits to see it in the store
_TEMPLATES = Path(__file__).parent / "templates"


def safe_url(url: str | None) -> str | None:
    """The URL if a browser may follow it from our page (http or https), else None."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%d %b %Y %H:%M UTC")


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(_TEMPLATES),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["safe_url"] = safe_url
    env.filters["when"] = when
    env.filters["mask"] = mask_webhook
    return env


def _listed(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def form_subscription(form: Mapping[str, str], current: Subscription | None
                      ) -> Subscription:
    """The subscription a form describes; ValidationError says which field is wrong. A
    blank Slack field keeps the current webhook (the page never shows it)."""
    slack = form.get("slack", "").strip() or (
        current.channels.slack.get_secret_value()
        if current is not None and current.channels.slack is not None else None)
    data: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "owner": form.get("owner", "").strip() or None,
        "description": form.get("description", "").strip() or None,
        "channels": {"slack": slack, "email": form.get("email", "").strip() or None},
        "rules": {"keywords": form.get("keywords", ""), "match": form.get("match", "any"),
                  "exclude": form.get("exclude", ""),
                  "topics": _listed(form.get("topics", "")),
                  "sources": _listed(form.get("sources", "")),
                  "given_names": form.get("given_names", "as-written")},
        "muted_until": current.muted_until if current is not None else None,
    }
    return Subscription.model_validate(data)


def _terms_field(terms: list[str]) -> str:
    return " ".join(f'"{t}"' if " " in t else t for t in terms)


def subscription_form(sub: Subscription) -> dict[str, str]:
    """The form fields that show a subscription: what :func:`form_subscription` reads
    back (the Slack webhook is never shown, so its field stays blank)."""
    rules = sub.rules
    return {"name": sub.name, "owner": sub.owner or "", "description": sub.description or "",
            "email": sub.channels.email or "", "keywords": _terms_field(rules.keywords),
            "exclude": _terms_field(rules.exclude), "topics": ", ".join(rules.topics),
            "sources": ", ".join(rules.sources), "match": rules.match,
            "given_names": rules.given_names}


def add_pages(app: FastAPI, store: HistoryStore, token: str,
              writer: Writer | None = None) -> None:
    """Add the sign-in form, the stream, story, alerts and subscriptions pages."""
    env = _environment()

    def session_of(request: Request) -> str | None:
        cookie = request.cookies.get(COOKIE)
        return cookie if valid_session(cookie, token, time.time()) else None

    def render(name: str, request: Request, status: int = 200, **values: object
               ) -> HTMLResponse:
        session = session_of(request)
        html = env.get_template(name).render(
            csrf=csrf_for(token, session) if session else "", signed_in=bool(session),
            **values)
        return HTMLResponse(html, status_code=status)

    def to_signin(request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)

    @app.get("/signin", response_class=HTMLResponse, include_in_schema=False)
    async def signin_form(request: Request, next: str = "/") -> HTMLResponse:
        return render("signin.html", request, next=next if next.startswith("/") else "/")

    @app.post("/signin", include_in_schema=False)
    async def signin(request: Request, token_field: str = Form(alias="token"),
                     next: str = Form(default="/")) -> Response:
        if not matches(token_field, token):
            return render("signin.html", request, status=401, next=next,
                          error="That is not the access token.")
        # Only a path of this site: never a redirect to another one ("//host" and
        # "/\host" are other sites to a browser).
        target = next if next.startswith("/") and next[1:2] not in ("/", "\\") else "/"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, make_session(token, time.time()), httponly=True,
                            samesite="strict", max_age=SESSION_MAX_AGE,
                            secure=request.url.scheme == "https")
        return response

    @app.post("/signout", include_in_schema=False)
    async def signout(request: Request, csrf: str = Form(default="")) -> Response:
        if not valid_csrf(csrf, token, session_of(request)):
            return HTMLResponse("This form has expired; reload the page.", status_code=403)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def stream(request: Request, topic: str = "", source: str = "", q: str = ""
                     ) -> Response:
        if session_of(request) is None:
            return to_signin(request)
        items = store.stream(topic=topic or None, source=source or None, text=q or None,
                             limit=100)
        return render("stream.html", request, items=items, topic=topic, source=source, q=q)

    @app.get("/partials/stream", response_class=HTMLResponse, include_in_schema=False)
    async def stream_items(request: Request, topic: str = "", source: str = "", q: str = ""
                           ) -> Response:
        """The stream's list alone, for the page's live updates."""
        if session_of(request) is None:
            return HTMLResponse("", status_code=401)
        items = store.stream(topic=topic or None, source=source or None, text=q or None,
                             limit=100)
        return render("stream_items.html", request, items=items, topic=topic,
                      source=source, q=q)

    @app.get("/events", include_in_schema=False)
    async def events(request: Request) -> Response:
        """Server-sent events: ``stories`` whenever the store has changed."""
        if session_of(request) is None:
            return Response(status_code=401)

        async def changes() -> AsyncIterator[str]:
            seen, quiet = store.version, 0.0
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                await asyncio.sleep(LIVE_POLL)
                if store.version != seen:
                    seen, quiet = store.version, 0.0
                    yield f"event: stories\ndata: {seen}\n\n"
                else:
                    quiet += LIVE_POLL
                    if quiet >= HEARTBEAT:
                        quiet = 0.0
                        yield ": still here\n\n"

        return StreamingResponse(changes(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    async def read_back(name: str, expected: Subscription | None) -> None:
        # The store learns of a change when the feed reads it back from the topic,
        # milliseconds later: the page the browser is sent to must already show it.
        for _ in range(int(READ_BACK / 0.02)):
            if store.subscription(name) == expected:
                return
            await asyncio.sleep(0.02)

    def forbidden() -> HTMLResponse:
        return HTMLResponse("This form has expired; reload the page.", status_code=403)

    def subscriptions_page(request: Request, status: int = 200, **values: object
                           ) -> HTMLResponse:
        values.setdefault("form", {})
        return render("subscriptions.html", request, status=status,
                      subscriptions=store.subscriptions(), can_write=writer is not None,
                      now=datetime.now(UTC), **values)

    @app.get("/subscriptions", response_class=HTMLResponse, include_in_schema=False)
    async def subscriptions(request: Request, edit: str = "") -> Response:
        if session_of(request) is None:
            return to_signin(request)
        current = store.subscription(edit) if edit else None
        form = subscription_form(current) if current is not None else {}
        return subscriptions_page(request, form=form, editing=current)

    @app.post("/subscriptions", response_class=HTMLResponse, include_in_schema=False)
    async def save_subscription(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return to_signin(request)
        form = {k: str(v) for k, v in (await request.form()).items()}
        if not valid_csrf(form.get("csrf"), token, session):
            return forbidden()
        current = store.subscription(form.get("name", "").strip())
        try:
            sub = form_subscription(form, current)
        except ValidationError as exc:
            errors = [f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}"
                      for e in exc.errors()]
            return subscriptions_page(request, status=422, form=form, errors=errors,
                                      editing=current)
        if form.get("action") == "test":
            days = max(1, min(90, int(form.get("days", "7") or 7)))
            trial = try_rule(sub.rules, store.articles_since(
                time.time() - days * 86_400))
            return subscriptions_page(request, form=form, trial=trial, days=days,
                                      editing=current)
        if writer is None:
            return subscriptions_page(request, status=503, form=form, editing=current,
                                      errors=["this web view cannot write subscriptions"])
        await writer(sub.name, sub.to_bytes())
        await read_back(sub.name, sub)
        return RedirectResponse(f"/subscriptions?saved={quote(sub.name)}", status_code=303)

    @app.post("/subscriptions/{name}/delete", include_in_schema=False)
    async def delete_subscription(request: Request, name: str,
                                  csrf: str = Form(default="")) -> Response:
        session = session_of(request)
        if session is None:
            return to_signin(request)
        if not valid_csrf(csrf, token, session):
            return forbidden()
        if writer is not None and store.subscription(name) is not None:
            await writer(name, None)
            await read_back(name, None)
        return RedirectResponse("/subscriptions", status_code=303)

    @app.post("/subscriptions/{name}/mute", include_in_schema=False)
    async def mute_subscription(request: Request, name: str, csrf: str = Form(default=""),
                                hours: float = Form(default=0)) -> Response:
        session = session_of(request)
        if session is None:
            return to_signin(request)
        if not valid_csrf(csrf, token, session):
            return forbidden()
        current = store.subscription(name)
        if writer is not None and current is not None:
            until = datetime.now(UTC) + timedelta(hours=hours) if hours > 0 else None
            changed = Subscription.model_validate(
                {**current.model_dump(mode="json"), "muted_until": until})
            await writer(name, changed.to_bytes())
            await read_back(name, changed)
        return RedirectResponse("/subscriptions", status_code=303)

    @app.get("/topics", response_class=HTMLResponse, include_in_schema=False)
    async def topics(request: Request, window: str = "7d") -> Response:
        if session_of(request) is None:
            return to_signin(request)
        window = window if window in TREND_WINDOWS else "7d"
        span, bucket = TREND_WINDOWS[window]
        starts, series = store.trends(time.time() - span, bucket)
        totals = {topic: sum(counts) for topic, counts in series.items()}
        return render("topics.html", request, window=window, totals=totals,
                      buckets=len(starts))

    @app.get("/feeds", response_class=HTMLResponse, include_in_schema=False)
    async def feeds(request: Request) -> Response:
        if session_of(request) is None:
            return to_signin(request)
        return render("feeds.html", request, feeds=store.feeds(time.time()))

    @app.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
    async def alerts(request: Request) -> Response:
        if session_of(request) is None:
            return to_signin(request)
        return render("alerts.html", request, summary=store.alert_summary(),
                      recent=store.recent_alerts(), retrying=store.retrying())

    @app.get("/stories/{story_id}", response_class=HTMLResponse, include_in_schema=False)
    async def story(request: Request, story_id: str) -> Response:
        if session_of(request) is None:
            return to_signin(request)
        view = store.story(story_id)
        if view is None:
            return render("missing.html", request, status=404, story_id=story_id)
        return render("story.html", request, story=view)
