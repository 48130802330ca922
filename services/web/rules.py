"""The rule tester: what a rule would have matched in the history store, with the
notifier's own matcher. Pure logic; no Kafka, no HTTP."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.article_classified import ClassifiedArticle
from schemas.subscription import Rules, Subscription
from services.notifier.matching import canonical_tokens
from services.notifier.subscriptions import PreparedArticle, Rule

__all__ = ["RuleMatch", "RuleTest", "highlight", "try_rule"]

_WORDS = re.compile(r"\w+|\W+")


@dataclass(frozen=True)
class RuleMatch:
    story_id: str
    title: str
    source: str
    seen_at: float
    reasons: tuple[str, ...]
    title_parts: list[tuple[str, bool]]  # the headline cut into (text, matched word?)


@dataclass
class RuleTest:
    articles: int  # looked at
    matches: list[RuleMatch] = field(default_factory=list)
    per_day: dict[str, int] = field(default_factory=dict)


def highlight(text: str, words: frozenset[str]) -> list[tuple[str, bool]]:
    """The text cut into runs, each marked when it is a word of ``words`` in any spelling
    the matcher knows (the page puts the marked ones in <mark>)."""
    parts: list[tuple[str, bool]] = []
    for piece in _WORDS.findall(text):
        canonical = canonical_tokens(piece) if piece[0].isalnum() or piece[0] == "_" else []
        parts.append((piece, len(canonical) == 1 and canonical[0] in words))
    return parts


def try_rule(rules: Rules, articles: list[tuple[ClassifiedArticle, float]]) -> RuleTest:
    """Match the rule against each article as the notifier would (mute aside)."""
    probe = Subscription.model_validate({"name": "rule-test",
                                         "channels": {"email": "rule-test@example.org"},
                                         "rules": rules.model_dump()})
    rule = Rule.of(probe)
    wanted = frozenset(t for p in rule.phrases for form in p.alternatives for t in form)
    result = RuleTest(len(articles))
    days: Counter[str] = Counter()
    for article, seen_at in articles:
        found = rule.match(PreparedArticle.of(article))
        if not found.matched:
            continue
        result.matches.append(RuleMatch(article.story_id, article.title, article.source,
                                        seen_at, found.reasons,
                                        highlight(article.title, wanted)))
        days[datetime.fromtimestamp(seen_at, UTC).date().isoformat()] += 1
    result.per_day = dict(sorted(days.items()))
    return result
