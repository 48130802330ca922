"""Every subscription compiled into one index: pure logic, no Kafka.

Matching each subscription in turn costs every article the work of every subscription.
The index instead files each subscription under the terms an article must contain for it
to match: the first word of each of its keywords (a rule with keywords can only match an
article holding one of them; for an "all of" rule, of one of them), paired with one of
its topics or else sources when it has such a filter; else its topics; else its sources.
An article is cut into words once; only the subscriptions filed under its words, topics
or source are then checked, each by the same rule as :func:`subscriptions.match`, so the
index answers exactly what matching every subscription would. A muted subscription is
left out while its mute lasts.

Subscriptions are added, replaced and removed one at a time, so a change costs the work
of that one subscription.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from schemas.article_classified import ClassifiedArticle
from schemas.subscription import Subscription
from services.notifier.matching import MatchResult
from services.notifier.subscriptions import PreparedArticle, Rule
from wirewatch.text import fold

__all__ = ["SubscriptionIndex"]


Term = tuple[str, str]  # (word, topic or source or ""), or (topic, "") or (source, "")
# What a subscription is filed under: a word of its keywords, paired with one of its
# topics (or else sources) when it has some, so that an article is only checked against
# the rules whose word *and* filter it has; else its topics; else its sources.
_WORD, _WORD_TOPIC, _WORD_SOURCE, _TOPIC, _SOURCE = range(5)


def _terms(rule: Rule) -> tuple[int, set[Term]]:
    """How a subscription is filed, and under which terms: one of them is in every
    article it matches."""
    rules = rule.subscription.rules
    if rules.keywords:
        phrases = rule.phrases
        if rules.match == "all":
            # Every phrase must be there, so one suffices: the longest first word, which
            # is likely the rarest, gives the fewest candidates.
            words = {max((p.tokens[0] for p in phrases), key=lambda t: (len(t), t))}
        else:
            words = {phrase.tokens[0] for phrase in phrases}
        if rules.topics:
            return _WORD_TOPIC, {(w, t) for w in words for t in rules.topics}
        if rules.sources:
            return _WORD_SOURCE, {(w, fold(s)) for w in words for s in rules.sources}
        return _WORD, {(w, "") for w in words}
    if rules.topics:
        return _TOPIC, {(t, "") for t in rules.topics}
    return _SOURCE, {(fold(s), "") for s in rules.sources}


class SubscriptionIndex:
    """Subscriptions by name, and the index that finds the ones an article may match."""

    def __init__(self, subscriptions: Iterable[Subscription] = ()) -> None:
        self._subs: dict[str, Rule] = {}
        self._order: dict[str, int] = {}  # name -> when it was first added
        # One map per way of filing: first key -> second key -> names filed there.
        self._filed: tuple[dict[str, dict[str, set[str]]], ...] = ({}, {}, {}, {}, {})
        self._added = 0
        for sub in subscriptions:
            self.put(sub)

    def __len__(self) -> int:
        return len(self._subs)

    def __iter__(self) -> Iterator[Subscription]:
        return iter(sorted((r.subscription for r in self._subs.values()),
                           key=lambda s: self._order[s.name]))

    def get(self, name: str) -> Subscription | None:
        rule = self._subs.get(name)
        return None if rule is None else rule.subscription

    def put(self, sub: Subscription) -> None:
        """Add a subscription, or replace the one of that name (it keeps its place)."""
        if sub.name in self._subs:
            self._unfile(self._subs[sub.name])
        else:
            self._order[sub.name] = self._added
            self._added += 1
        rule = self._subs[sub.name] = Rule.of(sub)
        kind, terms = _terms(rule)
        for first, second in terms:
            self._filed[kind].setdefault(first, {}).setdefault(second, set()).add(sub.name)

    def clear(self) -> None:
        """Forget every subscription."""
        self._subs.clear()
        self._order.clear()
        for filed in self._filed:
            filed.clear()

    def remove(self, name: str) -> bool:
        """Remove a subscription; whether there was one."""
        rule = self._subs.pop(name, None)
        if rule is None:
            return False
        self._unfile(rule)
        del self._order[name]
        return True

    def _unfile(self, rule: Rule) -> None:
        kind, terms = _terms(rule)
        name = rule.subscription.name
        filed = self._filed[kind]
        for first, second in terms:
            inner = filed.get(first)
            names = None if inner is None else inner.get(second)
            if names is None:
                continue
            names.discard(name)
            if not names:
                del inner[second]  # type: ignore[union-attr]
                if not inner:
                    del filed[first]

    def candidates(self, article: PreparedArticle) -> set[str]:
        """The names of the subscriptions filed under a word, topic or source of the
        article: a superset of those that match."""
        words, word_topics, word_sources, topics, sources = self._filed
        found: set[str] = set()
        for word in article.words & words.keys():
            found |= words[word][""]
        if article.topics:
            for word in article.words & word_topics.keys():
                by_topic = word_topics[word]
                for topic in article.topics:
                    names = by_topic.get(topic)
                    if names:
                        found |= names
        for word in article.words & word_sources.keys():
            names = word_sources[word].get(article.source)
            if names:
                found |= names
        for topic in article.topics & topics.keys():
            found |= topics[topic][""]
        found |= sources.get(article.source, {}).get("", set())
        return found

    def match(self, article: ClassifiedArticle | PreparedArticle, now: float | None = None
              ) -> list[tuple[Subscription, MatchResult]]:
        """The subscriptions the article matches, with their reasons, in the order they
        were added; those muted at ``now`` (default: the clock) are left out."""
        prepared = article if isinstance(article, PreparedArticle) else PreparedArticle.of(
            article)
        now = time.time() if now is None else now
        rules = self._subs
        matched = []
        for name in self.candidates(prepared):
            rule = rules[name]
            if rule.subscription.muted_until is not None and rule.subscription.muted(now):
                continue
            result = rule.match(prepared)
            if result.matched:
                matched.append((rule.subscription, result))
        matched.sort(key=lambda pair: self._order[pair[0].name])
        return matched
