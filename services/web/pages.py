"""The web view's HTML pages, rendered on the server and usable without JavaScript.

A browser signs in once with the access token through a form and then holds a signed
session cookie (HttpOnly, SameSite=Strict); every form it posts carries a CSRF token
bound to that session. Every text from feeds is escaped by the templates, and only
http(s) links are rendered as links.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.web.auth import (
    SESSION_MAX_AGE,
    csrf_for,
    make_session,
    matches,
    valid_csrf,
    valid_session,
)
from services.web.store import HistoryStore

__all__ = ["COOKIE", "LIVE_POLL", "add_pages"]

COOKIE = "wirewatch_session"
LIVE_POLL = 0.5  # s between looks at the store for news, per open page
HEARTBEAT = 15.0  # s between comments that keep an idle event stream open
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
    return env


def add_pages(app: FastAPI, store: HistoryStore, token: str) -> None:
    """Add the sign-in form, the stream and the story pages to ``app``."""
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
        # Only a path of this site: never a redirect to another one.
        target = next if next.startswith("/") and not next.startswith("//") else "/"
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

    @app.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
    async def alerts(request: Request) -> Response:
        if session_of(request) is None:
            return to_signin(request)
        return render("alerts.html", request, summary=store.alert_summary(),
                      recent=store.recent_alerts())

    @app.get("/stories/{story_id}", response_class=HTMLResponse, include_in_schema=False)
    async def story(request: Request, story_id: str) -> Response:
        if session_of(request) is None:
            return to_signin(request)
        view = store.story(story_id)
        if view is None:
            return render("missing.html", request, status=404, story_id=story_id)
        return render("story.html", request, story=view)
