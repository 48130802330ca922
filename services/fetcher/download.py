"""Downloading a feed within a deadline and a size cap, one redirect hop at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from services.fetcher.feeds import FeedError
from services.fetcher.netguard import AddressGuard, BlockedAddress, LookupFailed

__all__ = ["Download", "download"]

_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class Download:
    """A finished response: status, headers, the body (decompressed) and where it ended."""

    status: int
    headers: httpx.Headers
    content: bytes
    url: str


async def download(
    client: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    *,
    guard: AddressGuard,
    timeout: float,
    max_bytes: int,
    max_redirects: int = 5,
) -> Download:
    """GET ``url`` and read its body, or raise FeedError saying why not.

    ``timeout`` bounds the whole fetch (every hop's connect, headers and body), so a
    server that trickles bytes cannot hold a poll. ``max_bytes`` bounds the body after
    decompression and is checked while it streams in, so memory stays flat whatever the
    server sends. Every hop is checked by ``guard`` before it is requested.
    """
    try:
        async with asyncio.timeout(timeout):
            for _hop in range(max_redirects + 1):
                await guard.check(url)
                async with client.stream("GET", url, headers=dict(headers),
                                         follow_redirects=False) as response:
                    location = response.headers.get("Location")
                    if response.status_code in _REDIRECTS and location:
                        url = str(response.url.join(location))
                        continue
                    content = await _read_capped(response, max_bytes)
                    return Download(response.status_code, response.headers, content,
                                    str(response.url))
            raise FeedError(f"more than {max_redirects} redirects (last to {url})")
    except TimeoutError:
        raise FeedError(f"no complete response within {timeout:g} s") from None
    except BlockedAddress as exc:
        raise FeedError(f"refused: {exc}") from None
    except LookupFailed as exc:
        raise FeedError(str(exc)) from None
    except httpx.InvalidURL as exc:
        raise FeedError(f"unusable URL {url!r}: {exc}") from None
    except httpx.HTTPError as exc:
        raise FeedError(f"{type(exc).__name__}: {str(exc) or 'no detail'}") from None


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes and \
            "content-encoding" not in response.headers:
        raise FeedError(f"body of {int(declared):,} bytes announced, over the "
                        f"{max_bytes:,}-byte limit (FETCHER_MAX_BYTES); not read")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():  # decompressed as it arrives
        size += len(chunk)
        if size > max_bytes:
            raise FeedError(f"body over the {max_bytes:,}-byte limit (FETCHER_MAX_BYTES) "
                            "after decompression; fetch stopped")
        chunks.append(chunk)
    return b"".join(chunks)
