"""``python -m services.dedup``: run one dedup replica until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal

from services.dedup.app import SERVICE, Dedup
from services.dedup.settings import Settings
from wirewatch.logs import configure_logging
from wirewatch.service import load_or_exit
from wirewatch.streaming import tune_gc


async def _main(settings: Settings) -> None:
    dedup = Dedup(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, dedup.stop)
    await dedup.run()


if __name__ == "__main__":
    settings = load_or_exit(SERVICE, Settings)
    configure_logging(SERVICE, settings.log_level)
    tune_gc()
    asyncio.run(_main(settings))
