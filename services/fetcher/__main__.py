"""``python -m services.fetcher``: run one fetcher replica until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal

import httpx

from services.fetcher.app import SERVICE, Fetcher
from services.fetcher.feeds import load_feeds
from services.fetcher.settings import Settings
from wirewatch.logs import configure_logging
from wirewatch.service import load_or_exit


async def _main(settings: Settings) -> None:
    feeds = load_or_exit(SERVICE, lambda: load_feeds(settings.feeds, settings.guard()))
    # Redirects are followed one hop at a time by `download`, which checks each hop.
    limits = httpx.Limits(max_connections=settings.max_concurrency,
                          max_keepalive_connections=settings.max_concurrency)
    async with httpx.AsyncClient(timeout=settings.timeout, follow_redirects=False,
                                 limits=limits) as client:
        fetcher = Fetcher(settings, feeds, client)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, fetcher.stop)
        await fetcher.run()


if __name__ == "__main__":
    settings = load_or_exit(SERVICE, Settings)
    configure_logging(SERVICE, settings.log_level)
    asyncio.run(_main(settings))
