"""``wirewatch eval-names``: does watching any spelling of a name find every headline that
names it, and nothing else?

The headlines are the titles of the real articles in ``data/topics`` (public domain and
CC-licensed; provenance per article in that folder). Which names each headline mentions
was labelled by a reader who did not see the matcher (``data/names``). For each name of
the gazetteer, its *spellings* are the forms listed there plus forms made by a generator
of its own, apart from the matcher (apostrophe soft signs, ``-yi``/``-iy``/``-y``
endings, ``ia``/``ya``, ``kh``/``h``). Each spelling is watched as a subscription keyword
through the notifier's own matcher: recall is the share of the headlines labelled with
the name that it finds, precision the share of what it finds that is labelled with it.
Given names are checked the other way round: watching "Vladimir" must not find a
headline that names only "Volodymyr".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from schemas.article_classified import ClassifiedArticle
from schemas.subscription import Subscription
from services.notifier.index import SubscriptionIndex
from services.notifier.names import GAZETTEER
from services.notifier.subscriptions import PreparedArticle
from wirewatch.text import fold

__all__ = ["LABELS", "NameScore", "evaluate", "load_labels", "spellings"]

LABELS = Path(__file__).resolve().parents[1] / "data" / "names" / "headline-labels.jsonl"

# Given names whose Russian and Ukrainian forms name different people.
GIVEN_NAMES = (("vladimir", "volodymyr"), ("alexander", "oleksandr"), ("sergei", "serhiy"),
               ("andrei", "andriy"), ("mikhail", "mykhailo"))


def spellings(canonical: str, variants: Iterable[str]) -> list[str]:
    """The listed forms and the generated ones."""
    forms = {canonical, *variants}
    made = set()
    for form in forms:
        if form.endswith("sk"):
            made.add(form[:-1] + "'k")  # Pokrovs'k
        for a, b in (("yi", "iy"), ("yi", "y"), ("ia", "ya"), ("iu", "yu"), ("kh", "h"),
                     ("yy", "iy")):
            if form.endswith(a):
                made.add(form[: -len(a)] + b)
            elif a in form and len(a) == 2 and a in ("ia", "iu"):
                made.add(form.replace(a, b))
    return sorted(forms | made)


@dataclass
class NameScore:
    name: str
    headlines: int  # headlines naming it
    worst_recall: float  # over the spellings watched
    worst_spelling: str
    found: int  # headlines found, over every spelling watched
    wrong: int  # of those, headlines not naming it


def _names(title: str, forms: Sequence[str]) -> bool:
    folded = fold(title)
    return any(re.search(rf"(?<!\w){re.escape(form)}(?!\w)", folded) for form in forms)


def evaluate(titles: Sequence[str], labels: Sequence[frozenset[str]]
             ) -> tuple[list[NameScore], list[tuple[str, str, int]]]:
    """Scores per name labelled in the headlines (``labels[i]``: the canonical names
    headline ``i`` mentions), and for each given-name pair the headlines that watching
    one form wrongly finds by the other."""
    prepared = [PreparedArticle.of(ClassifiedArticle(
        id=str(i), url="https://e.org", source="eval", title=title, body="",
        fetched_at="2026-01-01T00:00:00Z", story_id=str(i), topics=[], classifier="eval"))
        for i, title in enumerate(titles)]
    scores: list[NameScore] = []
    for canonical, variants in GAZETTEER.items():
        forms = spellings(canonical, variants)
        positives = {i for i, names in enumerate(labels) if canonical in names}
        if not positives:
            continue
        worst, worst_form, found, wrong = 1.0, "", 0, 0
        for form in forms:
            index = SubscriptionIndex([_watch(form)])
            hits = {i for i, p in enumerate(prepared) if index.match(p)}
            recall = len(hits & positives) / len(positives)
            if recall < worst or not worst_form:
                worst, worst_form = recall, form
            found += len(hits)
            wrong += len(hits - positives)
        scores.append(NameScore(canonical, len(positives), worst, worst_form, found, wrong))
    false_friends = []
    for one, other in GIVEN_NAMES:
        for watched, not_meant in ((one, other), (other, one)):
            index = SubscriptionIndex([_watch(watched)])
            wrongly = sum(1 for t, p in zip(titles, prepared, strict=True)
                          if index.match(p) and not _names(t, [watched])
                          and _names(t, [not_meant]))
            false_friends.append((watched, not_meant, wrongly))
    return scores, false_friends


def _watch(form: str) -> Subscription:
    return Subscription.model_validate({"name": "watch", "channels": {"email": "a@b.org"},
                                        "rules": {"keywords": [f'"{form}"']}})


def load_labels(path: Path = LABELS) -> dict[str, frozenset[str]]:
    """Article id → the canonical names its headline mentions."""
    labels: dict[str, frozenset[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            item = orjson.loads(line)
            labels[str(item["id"])] = frozenset(item["names"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a label line: {exc}") from None
    return labels
