"""``wirewatch bench-match``: how fast the notifier matches articles against N subscriptions.

The articles are the real ones of ``data/topics`` with their adjudicated topics. The N
subscriptions are generated from the same articles' words, so that they look like what
analysts write: names and terms that some articles carry (in 0.3 to 5 % of them), two-word
phrases, a topic or a source as a filter, "all of" rules and exclusions. The mix makes
an article match a handful of subscriptions at 10,000. Matching is timed with the
notifier's index and, for comparison, with every subscription matched in turn.
"""

from __future__ import annotations

import gc
import itertools
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from schemas.article_classified import TOPIC_IDS, ClassifiedArticle, TopicTag
from schemas.subscription import Subscription
from services.classifier.corpus import load_examples
from services.notifier.index import SubscriptionIndex
from services.notifier.matching import canonical_tokens
from services.notifier.subscriptions import PreparedArticle, match
from wirewatch.streaming import GC_THRESHOLDS

__all__ = ["MatchBench", "articles_of", "generate_subscriptions", "measure"]

_STOP = frozenset((
    "a", "about", "after", "again", "against", "all", "also", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "between", "both", "but", "by",
    "can", "could", "did", "do", "does", "during", "each", "for", "from", "had", "has",
    "have", "he", "her", "here", "him", "his", "how", "i", "if", "in", "into", "is", "it",
    "its", "just", "me", "more", "most", "my", "no", "nor", "not", "now", "of", "on",
    "once", "only", "or", "other", "our", "out", "over", "own", "said", "same", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "those", "through", "to", "too", "under", "until",
    "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who",
    "whom", "why", "will", "with", "would", "you", "your",
))


def articles_of(corpus: Path) -> list[ClassifiedArticle]:
    """The corpus's real articles as the notifier receives them, with their labels."""
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return [ClassifiedArticle(
        id=e.article.id, url=e.article.url or f"https://corpus.example/{e.article.id}",
        source=e.article.source, title=e.article.title, body=e.article.body,
        fetched_at=when, story_id=e.article.id, classifier="labels",
        topics=[TopicTag(id=t, score=1.0, evidence=[e.article.title or t])
                for t in sorted(e.topics)]) for e in load_examples(corpus)]


@dataclass(frozen=True)
class _Vocabulary:
    terms: list[str]  # single words carried by 0.3-5 % of the articles
    phrases: list[str]  # two-word phrases, likewise
    sources: list[str]


def _vocabulary(articles: Sequence[ClassifiedArticle]) -> _Vocabulary:
    words: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for article in articles:
        tokens = [t for t in canonical_tokens(f"{article.title}\n{article.body}")
                  if not t.isdigit()]
        words.update(set(t for t in tokens if t not in _STOP and len(t) > 3))
        pairs.update({f"{a} {b}" for a, b in itertools.pairwise(tokens)
                      if a not in _STOP and b not in _STOP})
    low, high = 0.001 * len(articles), 0.02 * len(articles)
    return _Vocabulary(sorted(w for w, n in words.items() if low <= n <= high),
                       sorted(p for p, n in pairs.items() if low <= n <= high),
                       sorted({a.source for a in articles}))


def generate_subscriptions(n: int, articles: Sequence[ClassifiedArticle],
                           seed: int = 1) -> list[Subscription]:
    """``n`` subscriptions of the kinds analysts write, from the articles' own words."""
    rng = random.Random(seed)
    vocab = _vocabulary(articles)
    subs = []
    for i in range(n):
        rules: dict[str, object] = {}
        kind = rng.random()
        if kind < 0.45:  # a name or term or two, any of them, within a topic
            rules["keywords"] = rng.sample(vocab.terms, rng.randint(1, 2))
            rules["topics"] = [rng.choice(TOPIC_IDS)]
        elif kind < 0.7:  # all of two terms
            rules["keywords"] = rng.sample(vocab.terms, 2)
            rules["match"] = "all"
        elif kind < 0.85:  # a phrase, from one outlet or within a topic
            rules["keywords"] = [f'"{rng.choice(vocab.phrases)}"']
            if rng.random() < 0.5:
                rules["sources"] = [rng.choice(vocab.sources)]
            else:
                rules["topics"] = [rng.choice(TOPIC_IDS)]
        elif kind < 0.99:  # a term and a phrase, both
            rules["keywords"] = [rng.choice(vocab.terms), f'"{rng.choice(vocab.phrases)}"']
            rules["match"] = "all"
        else:  # a topic from one outlet: a broad one
            rules["topics"] = [rng.choice(TOPIC_IDS)]
            rules["sources"] = [rng.choice(vocab.sources)]
        if rng.random() < 0.1:
            rules["exclude"] = [rng.choice(vocab.terms)]
        subs.append(Subscription.model_validate({
            "name": f"sub-{i}", "channels": {"email": f"desk{i}@example.org"},
            "rules": rules}))
    return subs


@dataclass(frozen=True)
class MatchBench:
    subscriptions: int
    articles: int
    articles_per_s: float
    us_per_article: float
    matches_per_article: float
    one_by_one_per_s: float | None  # every subscription in turn, each tokenising

    def as_json(self) -> dict[str, object]:
        return {"subscriptions": self.subscriptions, "articles": self.articles,
                "articles_per_s": round(self.articles_per_s, 1),
                "us_per_article": round(self.us_per_article, 1),
                "matches_per_article": round(self.matches_per_article, 2),
                "one_by_one_per_s": None if self.one_by_one_per_s is None
                else round(self.one_by_one_per_s, 1)}


def measure(subs: Sequence[Subscription], articles: Sequence[ClassifiedArticle], *,
            one_by_one_budget: int = 200_000) -> MatchBench:
    """Time the index over every article (tokenising included; building the index and
    a first pass that teaches it the words' rarity are not), and the notifier's former
    way, every subscription in turn on the whole article (``subscriptions.match``), on
    as many articles as make ``one_by_one_budget`` matches."""
    index = SubscriptionIndex(subs)
    # A running notifier has read the stream before: the index has learnt which words
    # are rare and filed the subscriptions accordingly. One untimed pass stands for that.
    for article in articles:
        index.match(PreparedArticle.of(article))
    # As in the notifier (wirewatch.streaming.run_worker): what exists before the stream
    # starts, the subscriptions among it, is frozen out of the collector's scans.
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        started = time.perf_counter()
        matches = 0
        for article in articles:
            matches += len(index.match(PreparedArticle.of(article)))
        elapsed = time.perf_counter() - started
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    sample = articles[:max(5, one_by_one_budget // len(subs))] if subs else []
    one_by_one = None
    if sample:
        started = time.perf_counter()
        for article in sample:
            for sub in subs:
                match(sub, article)
        one_by_one = len(sample) / (time.perf_counter() - started)
    return MatchBench(len(subs), len(articles), len(articles) / elapsed,
                      elapsed / len(articles) * 1e6, matches / len(articles), one_by_one)
