"""Which pairs the index compares (a text's keys), and how a copy picks its original."""

from services.dedup.detector import Comparable, LshParams, copy_score, fingerprint, index_keys
from services.dedup.logic import Match, choose_original
from tests.unit.test_dedup_detector import OTHER_SAME_EVENT, SHORT, STORY

PARAMS = LshParams()


def _text(body: str) -> tuple[Comparable, str]:
    fp = fingerprint(body, PARAMS)
    return Comparable.from_fingerprint(fp, PARAMS), fp.exact


def test_a_text_is_indexed_under_its_exact_text_each_band_and_each_anchor():
    text, exact = _text(STORY)
    keys = index_keys(text, exact)
    assert keys[0] == exact
    assert keys[1:1 + PARAMS.bands] == list(enumerate(text.rows))
    assert keys[1 + PARAMS.bands:] == sorted(set(text.anchors))
    empty, _ = _text("")
    assert index_keys(empty, "") == []


def test_a_copy_shares_bands_a_paragraph_shares_only_anchors():
    story, story_exact = _text(STORY)
    copy, copy_exact = _text(STORY.rsplit("\n\n", 1)[0])
    shared = set(index_keys(story, story_exact)) & set(index_keys(copy, copy_exact))
    assert any(isinstance(k, tuple) for k in shared) and any(isinstance(k, int) for k in shared)
    # Two reports sharing one paragraph: no band in common, but anchors.
    other, other_exact = _text(OTHER_SAME_EVENT + "\n\n" + STORY.split("\n\n")[0])
    shared = set(index_keys(story, story_exact)) & set(index_keys(other, other_exact))
    assert shared and all(isinstance(k, int) for k in shared)
    assert copy_score(other, other_exact, story, story_exact, PARAMS) is None


def test_copy_score_is_one_for_the_same_text_and_none_for_another_story():
    story, exact = _text(STORY)
    dateline, dateline_exact = _text("ODESA — " + STORY)
    assert dateline_exact == exact  # the dateline is not part of the text
    assert copy_score(dateline, dateline_exact, story, exact, PARAMS) == 1.0
    cut, cut_exact = _text(STORY.rsplit("\n\n", 1)[0])
    assert cut_exact != exact
    # All of the cut copy is in the story: its containment is the score.
    assert copy_score(cut, cut_exact, story, exact, PARAMS) == 1.0
    short, short_exact = _text(SHORT)
    assert copy_score(short, short_exact, story, exact, PARAMS) is None


def test_choose_original_prefers_the_closest_then_the_story_id():
    assert choose_original([]) is None
    best = choose_original([Match("x", "s1", 0.7), Match("y", "s2", 0.95), Match("z", "s0", 0.95)])
    assert best == Match("z", "s0", 0.95)
