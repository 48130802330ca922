"""Which pairs the band index compares, and how a copy picks its original."""

import time

from services.dedup.detector import EXACT_BAND, LshParams, fingerprint
from services.dedup.logic import (
    BandEntry,
    Match,
    authoritative_key,
    choose_original,
    key_authority,
    match_in_band,
)
from tests.unit.test_dedup_detector import OTHER_SAME_EVENT, STORY

PARAMS = LshParams()


def _entry(article_id: str, body: str, at: float) -> BandEntry:
    fp = fingerprint(body, PARAMS)
    return BandEntry(article_id, fp.signature_b64(), fp.sketch_b64(), fp.size,
                     fp.band_keys[PARAMS.bands], at)


def _numbered(body: str) -> dict[str, int]:
    keys = fingerprint(body, PARAMS).band_keys
    return {key: EXACT_BAND if i == PARAMS.bands else i for i, key in enumerate(keys)}


def _shared_keys(a: str, b: str) -> list[tuple[int, str]]:
    """The keys two texts share, as (number in b, key), in the order of authority."""
    ka, kb = _numbered(a), _numbered(b)
    shared = [(kb[key], key) for key in kb if key in ka]
    return sorted(shared, key=lambda pair: key_authority(*pair))


def test_a_pair_is_judged_at_its_lowest_shared_key_only():
    copy = STORY.rsplit("\n\n", 1)[0]
    shared = _shared_keys(STORY, copy)
    assert len(shared) >= 2 and any(key.startswith("a:") for _, key in shared)
    now = time.time()
    first, second = _entry("a", STORY, now), _entry("b", copy, now)
    assert authoritative_key(first, second, PARAMS) == key_authority(*shared[0])
    reported = []
    for band, key in shared:
        result = match_in_band([first], second, band, key, PARAMS, now=now, max_age=60,
                               max_entries=10)
        reported += [(key, m.article_id) for m in result.matches]
    assert reported == [(shared[0][1], "a")]


def test_an_anchor_is_authoritative_when_no_band_is_shared():
    # Two texts sharing one paragraph: no LSH band in common, but anchors.
    other = OTHER_SAME_EVENT + "\n\n" + STORY.split("\n\n")[0]
    shared = _shared_keys(STORY, other)
    assert shared and all(key.startswith("a:") for _, key in shared)
    first, second = _entry("a", STORY, 0.0), _entry("b", other, 0.0)
    assert authoritative_key(first, second, PARAMS) == key_authority(*shared[0])


def test_concurrent_copies_never_copy_each_other():
    # The two copies reach their shared bands in opposite orders (two replicas racing):
    # only the authoritative band decides, so exactly one of them is a duplicate.
    copy = STORY.rsplit("\n\n", 1)[0]
    shared = _shared_keys(STORY, copy)
    numbers_in_story = _numbered(STORY)
    now = time.time()
    a, b = _entry("a", STORY, now), _entry("b", copy, now)
    verdicts: dict[str, list[Match]] = {"a": [], "b": []}
    for i, (number_in_copy, key) in enumerate(shared):
        first, second = (a, b) if i % 2 else (b, a)
        number = number_in_copy if second is b else numbers_in_story[key]
        entries = match_in_band([], first, number, key, PARAMS, now=now, max_age=60,
                                max_entries=10).entries
        result = match_in_band(entries, second, number, key, PARAMS, now=now, max_age=60,
                               max_entries=10)
        verdicts[second.article_id] += result.matches
    assert sorted(k for k, v in verdicts.items() if v) in (["a"], ["b"])


def test_registration_is_idempotent_and_expires_old_entries():
    now = time.time()
    old = _entry("old", STORY, now - 1000)
    a = _entry("a", STORY, now)
    b = _entry("b", "ODESA — " + STORY, now)
    band, key = _shared_keys(STORY, "ODESA — " + STORY)[0]
    r1 = match_in_band([old], a, band, key, PARAMS, now=now, max_age=100, max_entries=10)
    assert [e.article_id for e in r1.entries] == ["a"] and r1.matches == []
    r2 = match_in_band(r1.entries, b, band, key, PARAMS, now=now, max_age=100, max_entries=10)
    again = match_in_band(r2.entries, b, band, key, PARAMS, now=now, max_age=100,
                          max_entries=10)
    assert r2.matches == again.matches and [m.article_id for m in r2.matches] == ["a"]
    assert [e.article_id for e in again.entries] == ["a", "b"]


def test_choose_original_prefers_the_closest_then_the_story_id():
    assert choose_original([]) is None
    best = choose_original([Match("x", "s1", 0.7), Match("y", "s2", 0.95), Match("z", "s0", 0.95)])
    assert best == Match("z", "s0", 0.95)
