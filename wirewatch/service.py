"""Start-up of a service: configuration errors are reported plainly and stop it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from pydantic import ValidationError

__all__ = ["load_or_exit"]

T = TypeVar("T")


def load_or_exit(service: str, load: Callable[[], T]) -> T:
    """Run ``load``; on a bad setting or file print what and where, and exit with 2."""
    try:
        return load()
    except ValidationError as exc:
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "<settings>"
            print(f"{service}: bad setting {name.upper()}: {err['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
    except (ValueError, OSError) as exc:
        # The loaders raise ValueError subclasses naming the file and entry.
        print(f"{service}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
