"""Applying the records of the ``subscriptions`` topic to the index: pure logic, no Kafka.

Every notifier replica reads every record of the topic (from the beginning at start, then
as they come) and applies each in order. A record the notifier cannot use (not a valid
subscription, a key that is not its name, a ``${VAR}`` its environment lacks) changes
nothing: the subscription of that name keeps its previous version, so a bad edit never
silences a working subscription; the refusal is logged and dead-lettered with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from schemas.base import MessageDecodeError
from schemas.subscription import Subscription
from services.notifier.index import SubscriptionIndex
from services.notifier.subscriptions import SubscriptionError, resolve

__all__ = ["Change", "apply_record", "decode_record"]


@dataclass(frozen=True)
class Change:
    """What one record did: ``added``, ``changed``, ``deleted``, ``absent`` (a tombstone
    for a name not held) or ``refused`` (with the reason)."""

    name: str
    action: Literal["added", "changed", "deleted", "absent", "refused"]
    error: str | None = None


def decode_record(key: bytes | None, value: bytes | None,
                  environ: Mapping[str, str]) -> Subscription | None:
    """The usable subscription a record holds, with its channels expanded, or None for a
    tombstone; MessageDecodeError or SubscriptionError says why it is unusable."""
    if not key:
        raise MessageDecodeError("subscriptions: a record needs the subscription's name as key")
    try:
        name = key.decode()
    except UnicodeDecodeError:
        raise MessageDecodeError("subscriptions: the key is not UTF-8") from None
    if value is None:
        return None
    sub = Subscription.from_bytes(value)
    if sub.name != name:
        raise MessageDecodeError(f"subscriptions: record keyed {name!r} holds "
                                 f"subscription {sub.name!r}")
    return resolve(sub, environ)


def apply_record(index: SubscriptionIndex, key: bytes | None, value: bytes | None,
                 environ: Mapping[str, str]) -> Change:
    """Apply one record of the topic to the index; say what it did."""
    name = key.decode(errors="replace") if key else ""
    try:
        sub = decode_record(key, value, environ)
    except (MessageDecodeError, SubscriptionError) as exc:
        return Change(name, "refused", str(exc))
    if sub is None:
        return Change(name, "deleted" if index.remove(name) else "absent")
    action: Literal["added", "changed"] = "changed" if index.get(name) else "added"
    index.put(sub)
    return Change(name, action)
