"""``python -m services.web``: run one web view replica."""

import asyncio
import sys

import uvicorn

from services.web.app import create_app
from services.web.auth import resolve_token
from services.web.feed import SubscriptionWriter, keep_store
from services.web.settings import Settings
from services.web.store import HistoryStore
from wirewatch.logs import configure_logging
from wirewatch.service import load_or_exit

SERVICE = "web"

if __name__ == "__main__":
    settings = load_or_exit(SERVICE, Settings)
    configure_logging(SERVICE, settings.log_level)
    configured = settings.token.get_secret_value() if settings.token else None
    token, made = load_or_exit(SERVICE, lambda: resolve_token(configured,
                                                              settings.token_file()))
    if made:
        print(f"web: access token (kept in {settings.token_file()}): {token}",
              file=sys.stderr, flush=True)
    database = settings.database()
    database.parent.mkdir(parents=True, exist_ok=True)
    store = HistoryStore(database)
    caught_up = asyncio.Event()
    writer = SubscriptionWriter(settings)

    async def feed() -> None:
        try:
            await keep_store(settings, store, caught_up)
        finally:
            await writer.close()

    app = create_app(store, token, writer=writer,
                     status=lambda: {"feed": {"caught_up": caught_up.is_set()}},
                     background=feed)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                access_log=False)
