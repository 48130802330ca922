"""The dedup evaluation set: derived copies keep their story, hard negatives have their own,
and dedup's rule is scored against them (unit tier: a handful of invented articles)."""

from __future__ import annotations

import random

from services.classifier.corpus import CorpusArticle
from services.dedup.evaluation import (
    EDITS,
    build_set,
    inserted_pairs,
    judge,
    reorder,
    score,
    template_pairs,
)
from services.dedup.settings import Settings

WORDS = ["army", "city", "council", "bridge", "river", "power", "grid", "talks", "ceasefire",
         "drone", "port", "grain", "ship", "school", "hospital", "winter", "repair", "crew",
         "village", "front", "line", "minister", "budget", "aid", "tank", "shell",
         "artillery", "market", "price", "fuel", "border", "train", "station", "mayor"]


def _article(n: int, words: int) -> CorpusArticle:
    rng = random.Random(n)
    sentences = [" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "."
                 for _ in range(words // 12)]
    paragraphs = [" ".join(sentences[i:i + 3]) for i in range(0, len(sentences), 3)]
    return CorpusArticle(id=f"a{n}", source="test", kind="test", title=f"Title {n}",
                         body="\n\n".join(paragraphs), url="", date="", licence="test",
                         repository="none/none", commit="0" * 40, path="-", story=f"a{n}",
                         split="test")


ARTICLES = [_article(n, 120 if n % 2 else 400) for n in range(60)]


def test_the_set_holds_every_kind_and_copies_keep_their_story():
    docs = build_set(ARTICLES, originals=20)
    kinds = {d.kind for d in docs}
    assert kinds == {"original", "copy", "wrapped-copy", "template-wrap", "digest"}
    originals = {d.id for d in docs if d.kind == "original"}
    for doc in docs:
        if doc.kind in ("copy", "wrapped-copy"):
            assert doc.story in originals and doc.body != ""
        if doc.kind in ("digest", "template-wrap"):
            assert doc.story not in originals
    assert build_set(ARTICLES, originals=20) == docs  # deterministic


def test_every_edit_keeps_most_of_the_text():
    paragraphs = ARTICLES[1].body.split("\n\n")
    for name, edit in EDITS.items():
        edited = edit(list(paragraphs), random.Random(1))
        kept = set(" ".join(edited).split()) & set(" ".join(paragraphs).split())
        assert len(kept) >= 0.7 * len(set(" ".join(paragraphs).split())), name


def test_the_rule_is_scored_against_the_truth_in_any_order():
    docs = build_set(ARTICLES, originals=20)
    params = Settings().lsh_params()
    first = score(judge(docs, params))
    assert first.expected > 20 and first.caught <= first.expected
    plain = [d for d in docs if d.kind in ("original", "copy")]
    caught = score(judge(plain, params))
    assert caught.recall > 0.9 and caught.precision == 1.0
    again = score(judge(reorder(plain, 3), params))
    assert again.expected == caught.expected


def test_template_pairs_count_every_pair_of_one_source():
    params = Settings().lsh_params()
    eligible = [a for a in ARTICLES if 50 <= len(a.body.split()) <= 250]
    wraps = template_pairs(ARTICLES, params)
    assert wraps.pairs == len(eligible) * (len(eligible) - 1) // 2
    assert wraps.called == 0


def test_inserted_pairs_are_copies_of_each_other():
    inserts = inserted_pairs(ARTICLES, Settings().lsh_params(), count=20)
    assert inserts.pairs == 20
    assert inserts.called >= 18
