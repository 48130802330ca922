"""The labelled topic corpus: reading it, splitting it by story, and its agreement figures."""

from __future__ import annotations

from collections import defaultdict

import orjson
import pytest

from schemas.article_classified import TOPIC_IDS
from services.classifier.corpus import (
    CORPUS_DIR,
    SPLITS,
    CorpusError,
    add_articles,
    cohen_kappa,
    group_stories,
    load_articles,
    load_examples,
    load_labels,
    split_of,
)

STORY = ("Officials in the region said the new bridge over the river would open to traffic "
         "next spring after three years of work and a long dispute over its cost, which "
         "rose twice as engineers found the old foundations weaker than expected.")
OTHER = ("A chess club in the old town hall celebrated its hundredth anniversary with a "
         "tournament for children and an exhibition of boards made by local carpenters.")


def _record(i: str, body: str) -> dict[str, str]:
    return {"id": i, "source": "invented", "kind": "test", "title": "", "body": body,
            "url": "", "date": "2024-05-01", "licence": "test fixture",
            "repository": "none/none", "commit": "0" * 40, "path": "-"}


def test_copies_join_their_original_story_and_others_do_not():
    copy = "RIVERTOWN (Wire) — " + STORY + " Sign up for our newsletter."
    cut = STORY[:120]  # the shorter text lies inside the longer one: a copy too
    same_subject = ("Officials in the region said a new school would open next spring after "
                    "a long dispute over its cost and a change of architects.")
    assert group_stories([STORY, OTHER, copy, cut, same_subject]) == [0, 1, 0, 0, 4]


def test_adding_articles_records_story_and_split(tmp_path):
    first = tmp_path / "first.jsonl"
    first.write_bytes(orjson.dumps(_record("a1", STORY)) + b"\n")
    add_articles(tmp_path, first)
    more = tmp_path / "more.jsonl"
    more.write_bytes(b"\n".join(orjson.dumps(r) for r in (
        _record("a2", "LONDON — " + STORY), _record("a3", OTHER))))
    added = add_articles(tmp_path, more)
    assert [(a.id, a.story) for a in added] == [("a2", "a1"), ("a3", "a3")]
    assert added[0].split == split_of("a1")
    assert [a.id for a in load_articles(tmp_path)] == ["a1", "a2", "a3"]
    with pytest.raises(CorpusError, match="id 'a2' appears twice"):
        add_articles(tmp_path, more)


def test_a_bad_line_is_refused_with_file_line_and_field(tmp_path):
    (tmp_path / "labels").mkdir()
    record = {**_record("a1", STORY), "story": "a1", "split": "train"}
    (tmp_path / "articles.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    labels = tmp_path / "labels" / "adjudicated.jsonl"
    labels.write_bytes(b'{"id": "a1", "topics": ["strikes"], "in_scope": true}\n'
                       b'{"id": "a2", "topics": ["weather"], "in_scope": true}\n')
    with pytest.raises(CorpusError, match=r"adjudicated.jsonl:2: topics: .*unknown topic id"):
        load_examples(tmp_path)
    labels.write_bytes(b'{"id": "a1", "topics": []\n')
    with pytest.raises(CorpusError, match=r"adjudicated.jsonl:1: not valid JSON"):
        load_examples(tmp_path)
    labels.write_bytes(b"")
    with pytest.raises(CorpusError, match=r"no labels for 1 article"):
        load_examples(tmp_path)
    (tmp_path / "articles.jsonl").write_bytes(orjson.dumps({**record, "split": "dev"}) + b"\n")
    with pytest.raises(CorpusError, match=r"articles.jsonl:1: split: Input should be"):
        load_articles(tmp_path)


def test_split_is_fixed_by_the_story_and_near_the_intended_shares():
    stories = [f"story-{i}" for i in range(20000)]
    splits = [split_of(s) for s in stories]
    assert splits == [split_of(s) for s in stories]
    assert abs(splits.count("test") / len(splits) - 0.20) < 0.01
    assert abs(splits.count("validation") / len(splits) - 0.15) < 0.01


def test_cohen_kappa():
    assert cohen_kappa([True, False, True, False], [True, False, True, False]) == 1.0
    # 20 items: both yes 5, a only 3, b only 2, both no 10. Observed agreement 0.75;
    # a says yes to 0.40 and b to 0.35, so chance agreement is 0.14 + 0.39 = 0.53.
    a = [True] * 5 + [True] * 3 + [False] * 2 + [False] * 10
    b = [True] * 5 + [False] * 3 + [True] * 2 + [False] * 10
    assert cohen_kappa(a, b) == pytest.approx((0.75 - 0.53) / (1 - 0.53))
    assert cohen_kappa([False] * 4, [False] * 4) == 1.0


# -- the committed corpus ---------------------------------------------------------------

def test_committed_corpus_is_whole_and_split_by_story():
    articles = load_articles()
    assert len(articles) >= 1000
    splits_of_story = defaultdict(set)
    for a in articles:
        splits_of_story[a.story].add(a.split)
        assert a.split == split_of(a.story)
    assert all(len(s) == 1 for s in splits_of_story.values())
    assert {a.split for a in articles} == set(SPLITS)
    ids = {a.id for a in articles}
    for name in ("pass-a", "pass-b", "adjudicated"):
        assert set(load_labels(CORPUS_DIR / "labels" / f"{name}.jsonl")) == ids, name
    examples = load_examples()
    assert sum(not e.topics for e in examples) >= 50  # articles outside the war
    assert {t for e in examples for t in e.topics} == set(TOPIC_IDS)


def test_every_source_has_its_licence_and_attribution():
    notice = (CORPUS_DIR / "NOTICE.md").read_text(encoding="utf-8")
    for article in load_articles():
        assert article.licence and article.repository and article.commit
    for repository in {a.repository for a in load_articles()}:
        assert repository in notice, f"{repository} has no entry in NOTICE.md"
