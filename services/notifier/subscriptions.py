"""Subscriptions: who wants which articles, on which channels. Loaded from a YAML file.

Example::

    subscriptions:
      - name: kyiv-strikes
        channels:
          slack: ${SLACK_WEBHOOK_DESK}   # ${VAR} is read from the environment
          email: desk@example.org
        rules:
          keywords: ['Kyiv', '"air defence"']   # or one string: Kyiv "air defence"
          match: any          # any | all
          exclude: [football]
          topics: [strikes]   # at least one of them, if given
          sources: [Wire A]   # one of them, if given
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic import model_validator as _model_validator

from schemas.article_classified import ClassifiedArticle
from services.notifier.matching import MatchResult, Phrase, canonical_tokens, find_phrases
from wirewatch.configfiles import read_yaml
from wirewatch.text import fold

__all__ = ["Channels", "PreparedArticle", "RuleCheck", "Rules", "Subscription", "SubscriptionError",
           "load_subscriptions"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NO_MATCH = MatchResult(False)


class SubscriptionError(ValueError):
    """The subscriptions file is unusable; the message names the file and the entry."""


def _split_keywords(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
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

    keywords: list[str] = Field(default_factory=list)
    match: Literal["any", "all"] = "any"
    exclude: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)

    @field_validator("keywords", "exclude", mode="before")
    @classmethod
    def _keywords(cls, value: object) -> list[str]:
        return _split_keywords(value)

    @field_validator("keywords", "exclude")
    @classmethod
    def _parseable(cls, value: list[str]) -> list[str]:
        for item in value:
            Phrase.parse(item)
        return value

    @_model_validator(mode="after")
    def _not_empty(self) -> Rules:
        if not (self.keywords or self.topics or self.sources):
            raise ValueError("a rule needs at least one of keywords, topics or sources")
        return self

    def phrases(self) -> list[Phrase]:
        return [Phrase.parse(k) for k in self.keywords]

    def exclusions(self) -> list[Phrase]:
        return [Phrase.parse(k) for k in self.exclude]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Channels(BaseModel):
    """Where the alerts of a subscription go; a webhook URL is a secret."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slack: SecretStr | None = None
    email: str | None = None

    @field_validator("slack")
    @classmethod
    def _webhook(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        # The message names what is wrong but never the URL: it is a secret.
        url = value.get_secret_value().strip()
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises for a port out of range
        except ValueError:
            raise ValueError("slack must be an https incoming-webhook URL "
                             "(this one cannot be parsed)") from None
        host = (parts.hostname or "").lower()
        loopback = host == "localhost" or _is_loopback(host)
        if (parts.scheme == "https" and host) or (parts.scheme == "http" and loopback):
            return SecretStr(url)
        raise ValueError("slack must be an https incoming-webhook URL (plain http only "
                         "on loopback, for local receivers)")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @_model_validator(mode="after")
    def _some_channel(self) -> Channels:
        if self.slack is None and self.email is None:
            raise ValueError("a subscription needs a slack or an email channel")
        return self


class Subscription(BaseModel):
    """A named subscription: channels and rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w.-]+$")
    channels: Channels
    rules: Rules

    def match(self, article: ClassifiedArticle) -> MatchResult:
        """Whether the article matches, and why."""
        return self.match_prepared(PreparedArticle.of(article))

    def match_prepared(self, article: PreparedArticle) -> MatchResult:
        """:meth:`match` on an article tokenised once for every subscription."""
        # Most articles a subscription is asked about do not match it: the set tests of
        # its check come first and the reasons are written only for a match.
        if not self.check.passes(article):
            return _NO_MATCH
        rules = self.rules
        reasons: list[str] = []
        if rules.sources:
            reasons.append(f"source: {article.article.source}")
        if rules.topics:
            reasons.append("topics: " + ", ".join(t for t in rules.topics
                                                   if t in article.topics))
        if rules.keywords:
            found = article.find(self._phrases)
            reasons.append("keywords: " + ", ".join(p.text for p in found))
        return MatchResult(True, tuple(reasons))

    @functools.cached_property
    def check(self) -> RuleCheck:
        """The rule reduced to set tests, built once."""
        return RuleCheck.of(self.rules)

    @functools.cached_property
    def _phrases(self) -> list[Phrase]:
        return self.rules.phrases()


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """Whether an article matches a rule, in set tests on its prepared words."""

    sources: frozenset[str] | None
    topics: frozenset[str] | None
    excluded_words: frozenset[str]
    excluded_phrases: tuple[tuple[str, ...], ...]
    words: frozenset[str]
    phrases: tuple[tuple[str, ...], ...]
    all_needed: bool

    @classmethod
    def of(cls, rules: Rules) -> RuleCheck:
        keywords = [p.tokens for p in rules.phrases()]
        excluded = [p.tokens for p in rules.exclusions()]
        return cls(frozenset(fold(s) for s in rules.sources) if rules.sources else None,
                   frozenset(rules.topics) if rules.topics else None,
                   frozenset(t[0] for t in excluded if len(t) == 1),
                   tuple(t for t in excluded if len(t) > 1),
                   frozenset(t[0] for t in keywords if len(t) == 1),
                   tuple(t for t in keywords if len(t) > 1), rules.match == "all")

    def passes(self, article: PreparedArticle) -> bool:
        words = article.words
        if self.sources is not None and article.source not in self.sources:
            return False
        if self.topics is not None and article.topics.isdisjoint(self.topics):
            return False
        if not self.excluded_words.isdisjoint(words) or any(
                article.has(p) for p in self.excluded_phrases):
            return False
        if self.all_needed:
            return self.words <= words and all(article.has(p) for p in self.phrases)
        if self.words or self.phrases:
            return not self.words.isdisjoint(words) or any(article.has(p)
                                                          for p in self.phrases)
        return True


class PreparedArticle:
    """An article cut into canonical words once, for every subscription to look at."""

    __slots__ = ("_pairs", "_positions", "article", "source", "tokens", "topics", "words")

    def __init__(self, article: ClassifiedArticle, tokens: list[str]) -> None:
        self.article = article
        self.tokens = tokens
        self.words = frozenset(tokens)
        self.topics = frozenset(t.id for t in article.topics)
        self.source = fold(article.source)
        self._positions: dict[str, list[int]] | None = None
        self._pairs: frozenset[tuple[str, str]] | None = None

    @classmethod
    def of(cls, article: ClassifiedArticle) -> PreparedArticle:
        return cls(article, canonical_tokens(f"{article.title}\n{article.body}"))

    def find(self, phrases: list[Phrase]) -> list[Phrase]:
        """The phrases that occur as whole consecutive words."""
        return [phrase for phrase in phrases if self.has(phrase.tokens)]

    def has(self, wanted: tuple[str, ...]) -> bool:
        """Whether these words occur in a row."""
        if len(wanted) == 1:
            return wanted[0] in self.words
        # Cheap tests first: every word somewhere, every pair of neighbours somewhere (which
        # settles a two-word phrase); only longer phrases need the words' positions.
        if not self.words.issuperset(wanted):
            return False
        pairs = self.pairs()
        if not all(pair in pairs for pair in itertools.pairwise(wanted)):
            return False
        return len(wanted) == 2 or bool(find_phrases(self.tokens, [Phrase("", wanted)],
                                                     self.positions()))

    def pairs(self) -> frozenset[tuple[str, str]]:
        """Every pair of neighbouring words, built the first time it is needed."""
        if self._pairs is None:
            self._pairs = frozenset(itertools.pairwise(self.tokens))
        return self._pairs

    def positions(self) -> dict[str, list[int]]:
        """Each word's positions, built the first time it is needed."""
        if self._positions is None:
            self._positions = {}
            for i, token in enumerate(self.tokens):
                self._positions.setdefault(token, []).append(i)
        return self._positions


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subscriptions: list[Subscription]


def parse_subscriptions(data: object, where: str) -> list[Subscription]:
    """Validate the YAML structure; SubscriptionError says which entry and field is wrong."""
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = list(err["loc"])
            if len(loc) >= 2 and loc[0] == "subscriptions" and isinstance(data, dict):
                index = loc[1]
                try:
                    name = data["subscriptions"][index].get("name", f"#{index}")
                except (AttributeError, IndexError, KeyError, TypeError):
                    name = f"#{index}"
                loc[1] = f"{index}({name})"
            problems.append(f"{'.'.join(map(str, loc))}: {err['msg']}")
        raise SubscriptionError(f"{where}: " + "; ".join(problems)) from exc
    names = [s.name for s in parsed.subscriptions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SubscriptionError(f"{where}: duplicate subscription names: {', '.join(duplicates)}")
    return parsed.subscriptions


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(data: object, environ: Mapping[str, str], where: str) -> object:
    """Replace ``${NAME}`` in string values with the environment's value.

    Secrets such as webhook URLs can then stay out of the file.
    """
    if isinstance(data, str):
        missing = sorted({m for m in _ENV_REF.findall(data) if m not in environ})
        if missing:
            raise SubscriptionError(f"{where}: environment variable(s) not set: "
                                    + ", ".join(missing))
        return _ENV_REF.sub(lambda m: environ[m.group(1)], data)
    if isinstance(data, list):
        return [expand_env(item, environ, where) for item in data]
    if isinstance(data, dict):
        return {key: expand_env(value, environ, where) for key, value in data.items()}
    return data


def load_subscriptions(path: Path, environ: Mapping[str, str] | None = None) -> list[Subscription]:
    """Read and validate a subscriptions YAML file, expanding ``${VAR}`` references."""
    environ = os.environ if environ is None else environ
    data = expand_env(read_yaml(path, SubscriptionError), environ, str(path))
    return parse_subscriptions(data, str(path))
