"""Every subscription compiled into one index: pure logic, no Kafka.

Matching each subscription in turn costs every article the work of every subscription.
The index instead files each subscription under terms an article must contain for it to
match: for each of its keywords the keyword's rarest word (a rule with keywords can only
match an article holding one of them; for an "all of" rule, the rarest word of all),
paired with one of its topics or else sources when it has such a filter; else its
topics; else its sources. An article is cut into words once; only the subscriptions
filed under its words, topics or source are then checked, each by the same rule as
:func:`subscriptions.match`, so the index answers exactly what matching every
subscription would, whichever words it files under. A muted subscription is left out
while its mute lasts.

Which word is rarest is learnt from the articles themselves (the share of articles that
hold it, counted on a sample): a word rare in English may be everywhere in war news. The
subscriptions are filed again as the counts grow, at first often, then every 16,384
articles. Before anything is counted the longest word stands for the rarest.

Subscriptions are added, replaced and removed one at a time, so a change costs the work
of that one subscription.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator

from schemas.article_classified import ClassifiedArticle
from schemas.subscription import Subscription
from services.notifier.matching import MatchResult
from services.notifier.subscriptions import PreparedArticle, Rule
from wirewatch.text import fold

__all__ = ["SubscriptionIndex"]

# (word, filter): filed under a word of its keywords and, when it has topics or sources,
# one of them ("t:" + topic, "s:" + source; "" for none); a rule without keywords is
# filed under a filter alone, with word "".
Term = tuple[str, str]
_SAMPLE_EVERY = 8  # one article in so many is counted
_FIRST_REFILE, _LAST_REFILE = 16, 2048  # counted articles between refilings
_MAX_WORDS = 300_000  # words counted before the counts are halved


def _terms(rule: Rule, counts: Counter[str]) -> frozenset[Term]:
    """Where a subscription is filed: one of these terms is in every article it matches."""
    rules = rule.subscription.rules
    filters = ([f"t:{t}" for t in rules.topics] if rules.topics
               else [f"s:{fold(s)}" for s in rules.sources] if rules.sources else [""])
    if not rules.keywords:
        return frozenset(("", f) for f in filters)

    def rarest(tokens: Iterable[str]) -> str:
        return min(tokens, key=lambda t: (counts.get(t, 0), -len(t), t))

    fixed = [p.tokens for p in rule.phrases if len(p.alternatives) == 1]
    if rules.match == "all" and fixed:
        # Every keyword must be there, so one word of one of them suffices.
        words = {rarest(t for tokens in fixed for t in tokens)}
    elif rules.match == "all":
        # Every keyword has given-name variants: one of the forms of the first is there.
        words = {rarest(form) for form in rule.phrases[0].alternatives}
    else:
        words = {rarest(form) for p in rule.phrases for form in p.alternatives}
    return frozenset((w, f) for w in words for f in filters)


class SubscriptionIndex:
    """Subscriptions by name, and the index that finds the ones an article may match."""

    def __init__(self, subscriptions: Iterable[Subscription] = ()) -> None:
        self._subs: dict[str, Rule] = {}
        self._order: dict[str, int] = {}  # name -> when it was first added
        self._terms: dict[str, frozenset[Term]] = {}  # name -> where it is filed now
        # filter ("" for none) -> word -> names; and filter -> names for rules without
        # keywords. By filter first: an article has few filters, and the words of each
        # are then found by one set intersection.
        self._by_word: dict[str, dict[str, set[str]]] = {}
        self._by_filter: dict[str, set[str]] = {}
        self._added = 0
        self._counts: Counter[str] = Counter()  # articles holding each word, sampled
        self._seen = 0
        self._counted = 0
        self._next_refile = _FIRST_REFILE
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
            self._unfile(sub.name)
        else:
            self._order[sub.name] = self._added
            self._added += 1
        rule = self._subs[sub.name] = Rule.of(sub)
        self._file(sub.name, _terms(rule, self._counts))

    def remove(self, name: str) -> bool:
        """Remove a subscription; whether there was one."""
        if self._subs.pop(name, None) is None:
            return False
        self._unfile(name)
        del self._order[name]
        return True

    def clear(self) -> None:
        """Forget every subscription."""
        for store in (self._subs, self._order, self._terms, self._by_word, self._by_filter):
            store.clear()

    def _file(self, name: str, terms: frozenset[Term]) -> None:
        self._terms[name] = terms
        for word, filter_ in terms:
            if word:
                self._by_word.setdefault(filter_, {}).setdefault(word, set()).add(name)
            else:
                self._by_filter.setdefault(filter_, set()).add(name)

    def _unfile(self, name: str) -> None:
        for word, filter_ in self._terms.pop(name, frozenset()):
            if word:
                inner = self._by_word.get(filter_, {})
                names = inner.get(word)
                if names is not None:
                    names.discard(name)
                    if not names:
                        del inner[word]
                        if not inner:
                            del self._by_word[filter_]
            else:
                names = self._by_filter.get(filter_)
                if names is not None:
                    names.discard(name)
                    if not names:
                        del self._by_filter[filter_]

    def _count(self, article: PreparedArticle) -> None:
        """Count the article's words (one article in ``_SAMPLE_EVERY``); file every
        subscription again when enough have been counted since the last filing."""
        self._seen += 1
        if self._seen % _SAMPLE_EVERY:
            return
        self._counts.update(article.words)
        self._counted += 1
        if len(self._counts) > _MAX_WORDS:
            # Bounded memory: halve the counts, which keeps their order, and forget the
            # words seen once.
            self._counts = Counter({w: n // 2 for w, n in self._counts.items() if n > 1})
        if self._counted >= self._next_refile:
            self._next_refile = self._counted + min(self._counted, _LAST_REFILE)
            self.refile()

    def refile(self) -> None:
        """File every subscription under its rarest words as counted so far."""
        for name, rule in self._subs.items():
            terms = _terms(rule, self._counts)
            if terms != self._terms.get(name):
                self._unfile(name)
                self._file(name, terms)

    def candidates(self, article: PreparedArticle) -> set[str]:
        """The names of the subscriptions filed under a word, topic or source of the
        article: a superset of those that match."""
        filters = ["", *(f"t:{t}" for t in article.topics), f"s:{article.source}"]
        found: set[str] = set()
        words = article.words
        for filter_ in filters:
            by_word = self._by_word.get(filter_)
            if by_word:
                for word in words & by_word.keys():
                    found |= by_word[word]
            names = self._by_filter.get(filter_)
            if names:
                found |= names
        return found

    def match(self, article: ClassifiedArticle | PreparedArticle, now: float | None = None
              ) -> list[tuple[Subscription, MatchResult]]:
        """The subscriptions the article matches, with their reasons, in the order they
        were added; those muted at ``now`` (default: the clock) are left out."""
        prepared = article if isinstance(article, PreparedArticle) else PreparedArticle.of(
            article)
        self._count(prepared)
        now = time.time() if now is None else now
        rules = self._subs
        matched = []
        for name in self.candidates(prepared):
            rule = rules[name]
            # Most candidates do not match: the set tests first, the reasons only after.
            if not rule.check.passes(prepared):
                continue
            sub = rule.subscription
            if sub.muted_until is not None and sub.muted(now):
                continue
            matched.append((sub, rule.explain(prepared)))
        matched.sort(key=lambda pair: self._order[pair[0].name])
        return matched
