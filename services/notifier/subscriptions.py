"""Subscriptions as the notifier uses them: read from YAML, expanded, compiled to set tests.

The model is :class:`schemas.subscription.Subscription`; the ``subscriptions`` topic holds
them. A YAML file (``wirewatch subscriptions import``) looks like::

    subscriptions:
      - name: kyiv-strikes
        owner: desk@example.org
        description: strikes on the capital
        channels:
          slack: ${SLACK_WEBHOOK_DESK}   # expanded by the notifier from its environment
          email: desk@example.org
        rules:
          keywords: ['Kyiv', '"air defence"']   # or one string: Kyiv "air defence"
          match: any          # any | all
          exclude: [football]
          topics: [strikes]   # at least one of them, if given
          sources: [Wire A]   # one of them, if given
        muted_until: 2026-12-01T08:00:00Z       # optional snooze
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr, ValidationError

from schemas.article_classified import ClassifiedArticle
from schemas.base import describe_errors
from schemas.subscription import ENV_REFERENCE, Channels, Rules, Subscription, check_webhook
from services.notifier.matching import MatchResult, Phrase, canonical_tokens
from wirewatch.configfiles import read_yaml
from wirewatch.text import fold

__all__ = ["PreparedArticle", "Rule", "RuleCheck", "SubscriptionError", "load_subscriptions",
           "match", "parse_subscriptions", "resolve"]

_NO_MATCH = MatchResult(False)


class SubscriptionError(ValueError):
    """A subscription is unusable; the message names the file or record, the entry and
    the field."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A subscription compiled for matching: its rule as set tests, its phrases parsed."""

    subscription: Subscription
    check: RuleCheck
    phrases: tuple[Phrase, ...]

    @classmethod
    def of(cls, sub: Subscription) -> Rule:
        return cls(sub, RuleCheck.of(sub.rules), tuple(_phrases(sub.rules, sub.rules.keywords)))

    def match(self, article: PreparedArticle) -> MatchResult:
        """Whether the article matches, and why."""
        # Most articles a subscription is asked about do not match it: the set tests of
        # its check come first and the reasons are written only for a match.
        if not self.check.passes(article):
            return _NO_MATCH
        return self.explain(article)

    def explain(self, article: PreparedArticle) -> MatchResult:
        """The match of an article that passes :attr:`check`, with its reasons."""
        rules = self.subscription.rules
        reasons: list[str] = []
        if rules.sources:
            reasons.append(f"source: {article.article.source}")
        if rules.topics:
            reasons.append("topics: " + ", ".join(t for t in rules.topics
                                                   if t in article.topics))
        if rules.keywords:
            found = article.find(self.phrases)
            reasons.append("keywords: " + ", ".join(p.text for p in found))
        return MatchResult(True, tuple(reasons))


def match(sub: Subscription, article: ClassifiedArticle) -> MatchResult:
    """One subscription against one article, without an index."""
    return Rule.of(sub).match(PreparedArticle.of(article))


def _phrases(rules: Rules, keywords: list[str]) -> list[Phrase]:
    variants = rules.given_names == "variants"
    return [Phrase.parse(k, variants) for k in keywords]


# A phrase of several words as a rule checks it: its words, and the words joined by
# spaces with a space at each end (see PreparedArticle.has).
Run = tuple[frozenset[str], str]


def _run(tokens: tuple[str, ...]) -> Run:
    return frozenset(tokens), f" {' '.join(tokens)} "


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """Whether an article matches a rule, in set tests on its prepared words."""

    sources: frozenset[str] | None
    topics: frozenset[str] | None
    excluded_words: frozenset[str]
    excluded_runs: tuple[Run, ...]
    words: frozenset[str]
    runs: tuple[Run, ...]
    all_needed: bool
    needed: frozenset[str]  # for an "all" rule, every word of every keyword of one form
    # For an "all" rule, each keyword with given-name variants: one of its forms.
    choices: tuple[tuple[Run, ...], ...] = ()

    @classmethod
    def of(cls, rules: Rules) -> RuleCheck:
        keywords = _phrases(rules, rules.keywords)
        excluded = [form for p in _phrases(rules, rules.exclude) for form in p.alternatives]
        every = rules.match == "all"
        fixed = [p.tokens for p in keywords if len(p.alternatives) == 1] if every else [
            form for p in keywords for form in p.alternatives]
        return cls(frozenset(fold(s) for s in rules.sources) if rules.sources else None,
                   frozenset(rules.topics) if rules.topics else None,
                   frozenset(t[0] for t in excluded if len(t) == 1),
                   tuple(_run(t) for t in excluded if len(t) > 1),
                   frozenset(t[0] for t in fixed if len(t) == 1),
                   tuple(_run(t) for t in fixed if len(t) > 1), every,
                   frozenset(w for t in fixed for w in t) if every else frozenset(),
                   tuple(tuple(_run(form) for form in p.alternatives) for p in keywords
                         if len(p.alternatives) > 1) if every else ())

    def passes(self, article: PreparedArticle) -> bool:
        # Called for every candidate of every article: the cheapest and most selective
        # tests first, and no call that a set test can spare.
        words = article.words
        if not self.needed <= words:  # most candidates of an "all" rule lack a word
            return False
        if self.sources is not None and article.source not in self.sources:
            return False
        if self.topics is not None and article.topics.isdisjoint(self.topics):
            return False
        if self.excluded_words and not self.excluded_words.isdisjoint(words):
            return False
        for run_words, run in self.excluded_runs:
            if run_words <= words and run in article.joined():
                return False
        if self.all_needed:
            return all(run in article.joined() for _, run in self.runs) and all(
                any(w <= words and r in article.joined() for w, r in forms)
                for forms in self.choices)
        if self.words and not self.words.isdisjoint(words):
            return True
        for run_words, run in self.runs:
            if run_words <= words and run in article.joined():
                return True
        return not (self.words or self.runs)


class PreparedArticle:
    """An article cut into canonical words once, for every subscription to look at."""

    __slots__ = ("_joined", "article", "source", "tokens", "topics", "words")

    def __init__(self, article: ClassifiedArticle, tokens: list[str]) -> None:
        self.article = article
        self.tokens = tokens
        self.words = frozenset(tokens)
        self.topics = frozenset(t.id for t in article.topics)
        self.source = fold(article.source)
        self._joined: str | None = None

    @classmethod
    def of(cls, article: ClassifiedArticle) -> PreparedArticle:
        return cls(article, canonical_tokens(f"{article.title}\n{article.body}"))

    def find(self, phrases: Iterable[Phrase]) -> list[Phrase]:
        """The phrases that occur as whole consecutive words, in one of their forms."""
        return [phrase for phrase in phrases
                if any(self.has(form) for form in phrase.alternatives)]

    def has(self, wanted: tuple[str, ...]) -> bool:
        """Whether these words occur in a row."""
        if len(wanted) == 1:
            return wanted[0] in self.words
        # Every word somewhere first (a set test); then the words in a row, found by a
        # substring search in the words joined by spaces: words hold no space, so a
        # match there is a match of whole consecutive words.
        if not self.words.issuperset(wanted):
            return False
        return f" {' '.join(wanted)} " in self.joined()

    def joined(self) -> str:
        """The words joined by single spaces, with a space at each end; built once."""
        if self._joined is None:
            self._joined = f" {' '.join(self.tokens)} "
        return self._joined


_FIELDS = frozenset(Subscription.model_fields) - {"schema_version"}


def parse_subscriptions(data: object, where: str) -> list[Subscription]:
    """Validate a file's structure; SubscriptionError says which entry and field is wrong.

    ``${VAR}`` references are kept as written.
    """
    if not isinstance(data, dict) or set(data) != {"subscriptions"} \
            or not isinstance(data["subscriptions"], list):
        raise SubscriptionError(f"{where}: expected a mapping with one key, 'subscriptions', "
                                "holding a list")
    problems: list[str] = []
    subs: list[Subscription] = []
    for index, entry in enumerate(data["subscriptions"]):
        name = entry.get("name", f"#{index}") if isinstance(entry, dict) else f"#{index}"
        here = f"subscriptions.{index}({name})"
        if not isinstance(entry, dict):
            problems.append(f"{here}: expected a mapping")
            continue
        # The topic's model ignores unknown fields (a newer producer may add some); in a
        # file they are typing mistakes.
        unknown = sorted(str(k) for k in entry if k not in _FIELDS)
        if unknown:
            problems.append(f"{here}.{unknown[0]}: unknown field (known: "
                            f"{', '.join(sorted(_FIELDS))})")
            continue
        try:
            subs.append(Subscription.model_validate(entry))
        except ValidationError as exc:
            problems += [f"{here}.{'.'.join(map(str, err['loc']))}: {err['msg']}"
                         for err in exc.errors()]
    if problems:
        raise SubscriptionError(f"{where}: " + "; ".join(problems))
    names = [s.name for s in subs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SubscriptionError(f"{where}: duplicate subscription names: {', '.join(duplicates)}")
    return subs


def load_subscriptions(path: Path) -> list[Subscription]:
    """Read and validate a subscriptions YAML file (``${VAR}`` references kept)."""
    return parse_subscriptions(read_yaml(path, SubscriptionError), str(path))


def resolve(sub: Subscription, environ: Mapping[str, str] | None = None) -> Subscription:
    """The subscription with the ``${VAR}`` references of its channels expanded and the
    expanded values checked; SubscriptionError names the subscription and what is wrong."""
    environ = os.environ if environ is None else environ
    channels = sub.channels
    missing = [name for name in channels.references() if name not in environ]
    if missing:
        raise SubscriptionError(f"subscription {sub.name!r}: environment variable(s) not "
                                f"set: {', '.join(missing)}")
    if not channels.references():
        return sub

    def expand(value: str) -> str:
        return ENV_REFERENCE.sub(lambda m: environ[m.group(1)], value)

    try:
        slack = channels.slack.get_secret_value() if channels.slack else None
        expanded = Channels(slack=SecretStr(check_webhook(expand(slack))) if slack else None,
                            email=expand(channels.email) if channels.email else None)
    except ValidationError as exc:
        raise SubscriptionError(f"subscription {sub.name!r}: channels.{describe_errors(exc)}"
                                ) from None
    except ValueError as exc:
        raise SubscriptionError(f"subscription {sub.name!r}: channels: {exc}") from None
    return sub.model_copy(update={"channels": expanded})
