"""The access token: pure functions over a file, no HTTP."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

__all__ = ["SESSION_MAX_AGE", "csrf_for", "make_session", "matches", "resolve_token",
           "valid_csrf", "valid_session"]


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


SESSION_MAX_AGE = 12 * 3600  # s


def _sign(token: str, message: str) -> str:
    return hmac.new(token.encode(), message.encode(), "sha256").hexdigest()


def make_session(token: str, now: float) -> str:
    """A browser session's cookie value, signed with the token: any replica can check it,
    and changing the token ends every session."""
    message = f"{int(now)}.{secrets.token_urlsafe(16)}"
    return f"{message}.{_sign(token, 'session:' + message)}"


def valid_session(cookie: str | None, token: str, now: float,
                  max_age: float = SESSION_MAX_AGE) -> bool:
    """Whether a cookie is a session signed with the token and not older than max_age."""
    if not cookie or cookie.count(".") != 2:
        return False
    issued, nonce, signature = cookie.split(".")
    if not issued.isdigit() or not 0 <= now - int(issued) <= max_age:
        return False
    return hmac.compare_digest(signature, _sign(token, f"session:{issued}.{nonce}"))


def csrf_for(token: str, session: str) -> str:
    """The token a form of this session must send back (bound to the session)."""
    return _sign(token, "csrf:" + session)


def valid_csrf(given: str | None, token: str, session: str | None) -> bool:
    return bool(given and session) and hmac.compare_digest(
        str(given), csrf_for(token, str(session)))
