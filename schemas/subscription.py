"""``subscriptions``: who wants which articles, on which channels (compacted, key = name).

The topic is the source of truth: the notifier applies each record as it arrives and a
tombstone (a record with no value) deletes the subscription of its key. The same model
validates a subscription wherever it comes from: a YAML file, the CLI, another program.

``${VAR}`` references in the channels stay as written here; the notifier expands them
from its environment, so a webhook URL need not be written into the topic. A URL that is
written here is a secret: protect the topic with broker ACLs.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_serializer,
    field_validator,
    model_validator,
)

from schemas.base import Event

__all__ = ["ENV_REFERENCE", "Channels", "Rules", "Subscription", "check_webhook", "mask_webhook"]

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_WORD = re.compile(r"\w", re.UNICODE)


def _split_keywords(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:  # an unclosed quote
            raise ValueError(f"cannot split {value!r} into keywords: {exc}") from None
    if isinstance(value, list):
        items: list[str] = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"keyword {item!r} is not text")
            stripped = item.strip()
            items.append(stripped[1:-1] if len(stripped) > 1 and stripped[0] == stripped[-1] == '"'
                         else stripped)
        return items
    raise ValueError("expected a list of keywords or one string")


class Rules(BaseModel):
    """What a subscription wants; every given part must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keywords: list[str] = Field(
        default_factory=list,
        description="Words or phrases (a phrase in double quotes in the one-string form); "
                    "case, accents and the spellings of Ukrainian and Russian place names "
                    "and surnames are ignored.")
    match: Literal["any", "all"] = Field(
        default="any", description="Whether any keyword suffices or all are needed.")
    exclude: list[str] = Field(default_factory=list,
                               description="Words or phrases that veto a match.")
    topics: list[str] = Field(default_factory=list,
                              description="At least one of these topics, if given.")
    sources: list[str] = Field(default_factory=list,
                               description="One of these outlets, if given.")
    given_names: Literal["as-written", "variants"] = Field(
        default="as-written",
        description="Given names in keywords match as written (Vladimir is not Volodymyr: "
                    "the forms usually name different people), or in their Ukrainian and "
                    "Russian variants too.")

    @field_validator("keywords", "exclude", mode="before")
    @classmethod
    def _keywords(cls, value: object) -> list[str]:
        return _split_keywords(value)

    @field_validator("keywords", "exclude")
    @classmethod
    def _wordy(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _WORD.search(item):
                raise ValueError(f"keyword {item!r} has no words")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Rules:
        if not (self.keywords or self.topics or self.sources):
            raise ValueError("a rule needs at least one of keywords, topics or sources")
        return self


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_webhook(url: str) -> str:
    """The URL stripped, or ValueError if it is no webhook URL the notifier may post to.

    The message says what is wrong but never repeats the URL: it is a secret.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port out of range
    except ValueError:
        raise ValueError("slack must be an https incoming-webhook URL "
                         "(this one cannot be parsed)") from None
    host = (parts.hostname or "").lower()
    loopback = host == "localhost" or _is_loopback(host)
    if (parts.scheme == "https" and host) or (parts.scheme == "http" and loopback):
        return url
    raise ValueError("slack must be an https incoming-webhook URL (plain http only "
                     "on loopback, for local receivers)")


def mask_webhook(secret: str) -> str:
    """A webhook URL shown without its secret path; a ``${VAR}`` as written."""
    if ENV_REFERENCE.search(secret):
        return secret
    parts = urlsplit(secret)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "…"


class Channels(BaseModel):
    """Where the alerts of a subscription go; a webhook URL is a secret.

    A value holding a ``${VAR}`` reference is checked once the notifier has expanded it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    slack: SecretStr | None = Field(
        default=None, description="Slack incoming-webhook URL, or a ${VAR} naming one.")
    email: str | None = Field(default=None, description="Email address, or a ${VAR}.")

    @field_validator("slack")
    @classmethod
    def _webhook(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or ENV_REFERENCE.search(value.get_secret_value()):
            return value
        return SecretStr(check_webhook(value.get_secret_value()))

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not ENV_REFERENCE.search(value) and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_serializer("slack", when_used="json-unless-none")
    def _reveal(self, value: SecretStr) -> str:
        # Encoded for the topic and for export; repr and logs keep it masked.
        return value.get_secret_value()

    @model_validator(mode="after")
    def _some_channel(self) -> Channels:
        if self.slack is None and self.email is None:
            raise ValueError("a subscription needs a slack or an email channel")
        return self

    def references(self) -> list[str]:
        """The environment variables the channels name."""
        values = [self.slack.get_secret_value() if self.slack else "", self.email or ""]
        return sorted({name for v in values for name in ENV_REFERENCE.findall(v)})


class Subscription(Event):
    """A named subscription: channels, rules, and who owns it."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w.-]+$",
                      description="Its id: the key of its records on the topic, and "
                                  "`subscription_id` in `alerts`.")
    channels: Channels = Field(description="Where its alerts go.")
    rules: Rules = Field(description="Which articles it wants.")
    owner: str | None = Field(default=None, max_length=200,
                              description="Who to ask about it (a person or a team).")
    description: str | None = Field(default=None, max_length=2000,
                                    description="What it is for.")
    muted_until: AwareDatetime | None = Field(
        default=None, description="No alert for articles read before this time (a snooze); "
                                  "none once it has passed.")

    def muted(self, now: float) -> bool:
        """Whether it is silent at ``now`` (seconds since the epoch)."""
        return self.muted_until is not None and self.muted_until.timestamp() > now
