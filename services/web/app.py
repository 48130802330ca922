"""The web view's HTTP side: the JSON API over the history store (FastAPI), and the
pages (``services.web.pages``).

Every route but ``/healthz`` needs the access token (``Authorization: Bearer <token>``);
the API's reads also take a signed-in browser's session, for the pages' own scripts.
Responses forbid inline script and framing (Content-Security-Policy); the API documents
itself as OpenAPI at ``/api/openapi.json`` (behind the token; no documentation page is
served, since its scripts would come from a CDN).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from schemas.subscription import Rules, Subscription, mask_webhook
from services.web.auth import matches, valid_session
from services.web.pages import COOKIE, Writer, add_pages
from services.web.rules import try_rule
from services.web.store import (
    TREND_WINDOWS,
    AlertRow,
    AlertSummary,
    FeedRow,
    HistoryStore,
    TopicRow,
)

__all__ = ["SECURITY_HEADERS", "create_app", "masked"]

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# At module level: FastAPI reads the routes' annotations as strings in this module.
_BEARER = HTTPBearer(auto_error=False)


class _Out(BaseModel):
    """The API's view of a store row that it shows only in part; rows it shows whole
    (topics, alerts, feeds) are answered as the store's own dataclasses."""

    model_config = ConfigDict(from_attributes=True)


class ArticleOut(_Out):
    id: str
    story_id: str
    title: str
    url: str
    source: str
    seen_at: float
    similarity: float | None


class StreamItemOut(_Out):
    article: ArticleOut
    copy_count: int
    topics: list[str]


class RuleTestIn(BaseModel):
    rules: Rules
    days: int = Field(default=7, ge=1, le=90, description="How far back to look.")


class RuleMatchOut(_Out):
    story_id: str
    title: str
    source: str
    seen_at: float
    reasons: list[str]


class RuleTestOut(_Out):
    articles: int
    matches: list[RuleMatchOut]
    per_day: dict[str, int]


def masked(sub: Subscription) -> dict[str, Any]:
    """A subscription as JSON with its webhook URL masked (never sent back out)."""
    data = sub.model_dump(mode="json")
    if data["channels"].get("slack"):
        data["channels"]["slack"] = mask_webhook(data["channels"]["slack"])
    return data


class TrendsOut(BaseModel):
    bucket: Literal["hour", "day"]
    starts: list[float] = Field(description="Start of each bucket, seconds since the epoch.")
    series: dict[str, list[int]] = Field(description="Stories per bucket, per topic.")


class StoryOut(_Out):
    origin: ArticleOut
    copies: list[ArticleOut]
    topics: list[TopicRow]
    alerts: list[AlertRow]


def create_app(store: HistoryStore, token: str, *, writer: Writer | None = None,
               status: Callable[[], dict[str, Any]] | None = None,
               background: Callable[[], Coroutine[Any, Any, None]] | None = None
               ) -> FastAPI:
    """The web app over ``store``; ``writer`` publishes a subscription record (name,
    value or None for a tombstone) to the subscriptions topic (without one, subscriptions
    are read-only); ``background`` runs while the app serves (the feed of the store),
    ``status`` adds to ``/healthz``.

    The routes are coroutines: they and the feed use the store from the event loop's
    thread only (its queries are short; SQLite allows one writer anyway).
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task: asyncio.Task[None] | None = (asyncio.create_task(background()) if background
                                           else None)
        try:
            yield
        finally:
            if task is not None:
                task.cancel()

    app = FastAPI(title="wirewatch", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.store = store

    def authorised(request: Request, credentials: Annotated[
            HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        if credentials is not None and matches(credentials.credentials, token):
            return
        # The pages' own scripts read the API with the browser's session; only reads,
        # so that no cross-site form can change anything with a cookie.
        if request.method == "GET" and valid_session(request.cookies.get(COOKIE), token,
                                                     time.time()):
            return
        raise HTTPException(401, "a valid access token is needed",
                            headers={"WWW-Authenticate": "Bearer"})

    @app.middleware("http")
    async def security_headers(request: Request,
                               call_next: Callable[[Request], Awaitable[Response]]
                               ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """The store and the feed that fills it; no token needed."""
        return {"store": {"stories": store.count()}, **(status() if status else {})}

    @app.get("/api/openapi.json", dependencies=[Depends(authorised)],
             include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/api/stories", response_model=list[StreamItemOut],
             dependencies=[Depends(authorised)])
    async def stories(topic: str | None = None, source: str | None = None,
                q: str | None = Query(default=None, description="Words, all required."),
                since: datetime | None = None,
                limit: int = Query(default=50, ge=1, le=500)) -> list[StreamItemOut]:
        """Stories newest first, filtered by topic, source, words and time."""
        items = store.stream(topic=topic, source=source, text=q,
                             since=since.timestamp() if since else None, limit=limit)
        return [StreamItemOut.model_validate(i) for i in items]

    @app.get("/api/stories/{story_id}", response_model=StoryOut,
             dependencies=[Depends(authorised)])
    async def story(story_id: str) -> StoryOut:
        """A story: its first copy, the trail of copies, its topics and its alerts."""
        view = store.story(story_id)
        if view is None:
            raise HTTPException(404, f"no story {story_id!r}")
        return StoryOut.model_validate(view)

    @app.get("/api/alerts", response_model=list[AlertSummary],
             dependencies=[Depends(authorised)])
    async def alerts() -> list[AlertSummary]:
        """Per subscription and channel: delivered, failed, still being retried, the last
        outcome and the reason of the last failure."""
        return store.alert_summary()

    async def write(name: str, value: bytes | None) -> None:
        if writer is None:
            raise HTTPException(503, "this web view cannot write subscriptions")
        await writer(name, value)

    @app.get("/api/subscriptions", dependencies=[Depends(authorised)])
    async def list_subscriptions() -> list[dict[str, Any]]:
        """Every subscription; webhook URLs masked."""
        return [masked(sub) for sub in store.subscriptions()]

    @app.post("/api/subscriptions", status_code=202, dependencies=[Depends(authorised)])
    async def create_subscription(sub: Subscription) -> dict[str, Any]:
        """Write a new subscription to the subscriptions topic (409 if the name is taken);
        the notifiers apply it as they read it."""
        if store.subscription(sub.name) is not None:
            raise HTTPException(409, f"subscription {sub.name!r} exists; PUT replaces it")
        await write(sub.name, sub.to_bytes())
        return masked(sub)

    @app.put("/api/subscriptions/{name}", status_code=202,
             dependencies=[Depends(authorised)])
    async def replace_subscription(name: str, sub: Subscription) -> dict[str, Any]:
        """Write a new version of a subscription."""
        if sub.name != name:
            raise HTTPException(422, f"the body names {sub.name!r}, the path {name!r}")
        if store.subscription(name) is None:
            raise HTTPException(404, f"no subscription {name!r}")
        await write(name, sub.to_bytes())
        return masked(sub)

    @app.delete("/api/subscriptions/{name}", status_code=202,
                dependencies=[Depends(authorised)])
    async def delete_subscription(name: str) -> dict[str, str]:
        """Delete a subscription (a tombstone on the topic)."""
        if store.subscription(name) is None:
            raise HTTPException(404, f"no subscription {name!r}")
        await write(name, None)
        return {"deleted": name}

    @app.post("/api/rules/test", response_model=RuleTestOut,
              dependencies=[Depends(authorised)])
    async def rule_test(body: RuleTestIn) -> RuleTestOut:
        """What a rule would have matched in the last ``days`` days of the history, with
        the notifier's own matcher, and how many per day."""
        since = time.time() - body.days * 86_400
        return RuleTestOut.model_validate(try_rule(body.rules, store.articles_since(since)))

    @app.get("/api/feeds", response_model=list[FeedRow], dependencies=[Depends(authorised)])
    async def feeds() -> list[FeedRow]:
        """Each feed: items fetched in the last 24 hours, last fetch, last success, last
        error; silent feeds first."""
        return store.feeds(time.time())

    @app.get("/api/topics/trends", response_model=TrendsOut,
             dependencies=[Depends(authorised)])
    async def trends(window: Literal["24h", "7d", "30d"] = "7d") -> TrendsOut:
        """Stories per topic per hour (24h, 7d) or day (30d) over the window."""
        span, bucket = TREND_WINDOWS[window]
        starts, series = store.trends(time.time() - span, bucket)
        return TrendsOut(bucket="hour" if bucket == 3600 else "day", starts=starts,
                         series=series)

    add_pages(app, store, token, writer)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"),
              name="static")
    return app
