"""``wirewatch subscriptions``: the ``subscriptions`` topic managed from files and the shell.

Every change is a record keyed by the subscription's name, validated by
:class:`schemas.subscription.Subscription` before it is written; a deletion is a tombstone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import yaml

from schemas.base import MessageDecodeError
from schemas.subscription import Subscription, mask_webhook
from wirewatch.kafka import producer, read_table

__all__ = ["Problem", "Snapshot", "delete", "parse_duration", "publish", "read",
           "set_muted", "summary", "to_yaml"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


@dataclass(frozen=True)
class Problem:
    """A record of the topic that holds no valid subscription."""

    key: str
    error: str


@dataclass
class Snapshot:
    """The subscriptions on the topic now, by name, and the records that are not valid."""

    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


async def read(bootstrap: str, topic: str) -> Snapshot:
    """Every subscription of the topic, as its latest record says."""
    snapshot = Snapshot()
    for key, value in (await read_table(bootstrap, topic)).items():
        name = key.decode(errors="replace")
        try:
            sub = Subscription.from_bytes(value)
        except MessageDecodeError as exc:
            snapshot.problems.append(Problem(name, str(exc)))
            continue
        snapshot.subscriptions[name] = sub
    snapshot.subscriptions = dict(sorted(snapshot.subscriptions.items()))
    return snapshot


async def publish(bootstrap: str, topic: str, subs: Sequence[Subscription], *,
                  replace: bool = False) -> list[str]:
    """Write each subscription (a new version replaces one of its name); with ``replace``,
    also delete those on the topic that are not among them. Returns the names deleted."""
    doomed: list[str] = []
    if replace:
        keep = {s.name for s in subs}
        doomed = [key.decode() for key in await read_table(bootstrap, topic)
                  if key.decode(errors="replace") not in keep]
    async with producer(bootstrap) as prod:
        for sub in subs:
            await prod.send_and_wait(topic, sub.to_bytes(), key=sub.name.encode())
        for name in doomed:
            await prod.send_and_wait(topic, None, key=name.encode())
    return sorted(doomed)


async def delete(bootstrap: str, topic: str, names: Iterable[str]) -> list[str]:
    """Delete these subscriptions; LookupError names those the topic does not hold."""
    names = list(names)
    held = {key.decode(errors="replace") for key in await read_table(bootstrap, topic)}
    unknown = [n for n in names if n not in held]
    if unknown:
        raise LookupError(f"no such subscription: {', '.join(unknown)}")
    async with producer(bootstrap) as prod:
        for name in names:
            await prod.send_and_wait(topic, None, key=name.encode())
    return names


async def set_muted(bootstrap: str, topic: str, name: str,
                    until: datetime | None) -> Subscription:
    """Mute a subscription until ``until`` (None: unmute); the new version written."""
    current = (await read(bootstrap, topic)).subscriptions.get(name)
    if current is None:
        raise LookupError(f"no such subscription: {name}")
    # Validated again as a whole: the same model checks every change.
    changed = Subscription.model_validate(
        {**current.model_dump(mode="json"), "muted_until": until})
    await publish(bootstrap, topic, [changed])
    return changed


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1w``; ValueError otherwise."""
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a duration such as 30m, 2h or 1d")
    return timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])


def summary(sub: Subscription, now: datetime) -> str:
    """One line for ``list``: channels (webhooks masked), rule, owner, mute."""
    channels = []
    if sub.channels.slack is not None:
        channels.append(f"slack {mask_webhook(sub.channels.slack.get_secret_value())}")
    if sub.channels.email is not None:
        channels.append(f"email {sub.channels.email}")
    rules = sub.rules
    parts = []
    if rules.keywords:
        parts.append(f"{rules.match} of {rules.keywords}")
    for label, values in (("not", rules.exclude), ("topics", rules.topics),
                          ("sources", rules.sources)):
        if values:
            parts.append(f"{label} {values}")
    line = f"{sub.name}: {'; '.join(parts)} → {', '.join(channels)}"
    if sub.owner:
        line += f" (owner {sub.owner})"
    if sub.muted_until is not None and sub.muted_until > now:
        line += f" [muted until {sub.muted_until.isoformat()}]"
    return line


def to_yaml(subs: Iterable[Subscription]) -> str:
    """A file ``wirewatch subscriptions import`` reads back to the same subscriptions."""
    entries = [sub.model_dump(mode="json", exclude_none=True, exclude={"schema_version"})
               for sub in subs]
    for entry in entries:
        # Defaults are left out: the file shows what its author chose.
        rules = entry["rules"]
        for key in ("exclude", "topics", "sources", "keywords"):
            if not rules.get(key):
                rules.pop(key, None)
        if rules.get("match") == "any":
            del rules["match"]
        if rules.get("given_names") == "as-written":
            del rules["given_names"]
    return str(yaml.safe_dump({"subscriptions": entries}, sort_keys=False, allow_unicode=True))
