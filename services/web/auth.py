"""The access token: pure functions over a file, no HTTP."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

__all__ = ["matches", "resolve_token"]


def resolve_token(configured: str | None, path: Path) -> tuple[str, bool]:
    """The token to require, and whether it was made just now (to be printed once).

    A configured token wins; else the one kept in ``path``; else a new one, written
    there readable by its owner only.
    """
    if configured:
        return configured, False
    if path.exists():
        kept = path.read_text(encoding="utf-8").strip()
        if kept:
            return kept, False
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token, True


def matches(given: str | None, token: str) -> bool:
    """Whether a presented token is the token (in constant time)."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())
