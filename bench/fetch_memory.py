"""Peak memory of one fetch against hostile feed servers: ``python -m bench.fetch_memory``.

A server process on 127.0.0.1 sends a gzip bomb (1 GB of zeros in about 1 MB; see
``--bomb-mb``), a 2 GB
body and an endless one; this process fetches each with the fetcher's own download
function and its default 10 MB cap, and prints its peak resident memory (Linux
``VmHWM``) after each. The figure to watch is that it stays flat, whatever is sent.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time

import httpx
from aiohttp import web

from devrig.localrig import gzip_bomb, peak_rss_mb
from services.fetcher.download import download
from services.fetcher.feeds import FeedError
from services.fetcher.netguard import AddressGuard
from services.fetcher.settings import Settings

MB = 1_000_000


def _serve(port: int, bomb_mb: int) -> None:
    bomb = gzip_bomb(bomb_mb * MB)

    async def serve_bomb(request: web.Request) -> web.Response:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})

    async def stream(request: web.Request, total: int | None) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        chunk, sent = b"<item>" + b"x" * 65_000 + b"</item>", 0
        try:
            while total is None or sent < total:
                await response.write(chunk)
                sent += len(chunk)
                if sent > 50_000 * MB:  # bounded even when "endless"
                    break
        except ConnectionError:
            pass
        return response

    async def huge(request: web.Request) -> web.StreamResponse:
        return await stream(request, 2_000 * MB)

    async def endless(request: web.Request) -> web.StreamResponse:
        return await stream(request, None)

    app = web.Application()
    app.router.add_get("/bomb", serve_bomb)
    app.router.add_get("/huge", huge)
    app.router.add_get("/endless", endless)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _peak_mb() -> float:
    return peak_rss_mb() or 0.0


async def _fetch_all(port: int, bomb_mb: int) -> None:
    settings = Settings()
    guard = AddressGuard(allow_private=True)
    print(f"  {'before any fetch':<34} peak {_peak_mb():6.0f} MB")
    async with httpx.AsyncClient() as client:
        for path, what in (("bomb", f"gzip bomb ({bomb_mb:,} MB inflated)"), ("huge", "2 GB body"),
                           ("endless", "endless body")):
            started = time.perf_counter()
            try:
                await download(client, f"http://127.0.0.1:{port}/{path}", {}, guard=guard,
                               timeout=settings.timeout, max_bytes=settings.max_bytes)
                outcome = "read whole (unexpected)"
            except FeedError as exc:
                outcome = str(exc)[:60]
            print(f"  {what:<34} peak {_peak_mb():6.0f} MB  "
                  f"{time.perf_counter() - started:5.2f} s  {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=18931)
    parser.add_argument("--bomb-mb", type=int, default=1000, help="inflated size of the bomb")
    args = parser.parse_args()
    server = multiprocessing.Process(target=_serve, args=(args.port, args.bomb_mb), daemon=True)
    server.start()
    try:
        for _ in range(600):  # the bomb takes a few seconds to build
            try:
                httpx.get(f"http://127.0.0.1:{args.port}/none", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(f"fetching with FETCHER_MAX_BYTES={Settings().max_bytes:,} "
              f"and FETCHER_TIMEOUT={Settings().timeout:g} s")
        asyncio.run(_fetch_all(args.port, args.bomb_mb))
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
