import time

import pytest

from services.dedup.logic import (
    EXACT_BAND,
    BandEntry,
    LshParams,
    Match,
    choose_original,
    clean_text,
    fingerprint,
    is_copy,
    match_in_band,
    similarity,
)

PARAMS = LshParams()

STORY = """Russian forces fired a barrage of missiles at the port city overnight, damaging grain terminals and two civilian ships that were waiting to load wheat, the regional governor said.

Emergency services said three dock workers were injured and that fires at the terminal were put out by morning, while the port authority suspended loading for the day.

The navy said the ships were flagged in Panama and Liberia and that their crews were safe, adding that the attack was the fourth on the port this month.

Shipping insurers have raised premiums for vessels calling at the port since the attacks began, traders said, and some owners have paused their charters.

The governor asked residents to stay in shelters during alerts and said air defence units had shot down most of the drones that accompanied the missiles."""

OTHER_SAME_EVENT = """A missile attack on the Black Sea port damaged two cargo vessels on Tuesday, according to Ukraine's navy, which said the ships had arrived to collect wheat.

Officials reported injuries among port staff. Insurance costs for ships heading to the region have climbed sharply, according to brokers in London.

Kyiv called on its partners to send more air defence systems to protect export routes."""


def sim(a: str, b: str) -> tuple[float, bool]:
    fa, fb = fingerprint(a, PARAMS), fingerprint(b, PARAMS)
    s = similarity(fa.signature, fa.size, fb.signature, fb.size)
    return s.score, is_copy(s, fa.size, fb.size, PARAMS)


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param("ODESA, Ukraine — " + STORY, id="dateline"),
        pytest.param("By Jane Roe and John Doe\n\n" + STORY, id="byline"),
        pytest.param(STORY.replace("\n\nThe navy", "\n\nA ship burns at the terminal. "
                                   "(Photo: Port authority)\n\nThe navy"), id="caption"),
        pytest.param(STORY + "\n\nSource link\n\nSign up for our daily newsletter here.",
                     id="boilerplate"),
        pytest.param(STORY.rsplit("\n\n", 2)[0], id="last-paragraphs-cut"),
        pytest.param("Dec. 2 (UPI) — " + STORY.rsplit("\n\n", 1)[0], id="wire-dateline-and-cut"),
    ],
)
def test_syndicated_variants_are_copies(variant):
    score, copy = sim(STORY, variant)
    assert copy, f"similarity {score:.2f}"


def test_different_article_about_same_event_is_not_a_copy():
    score, copy = sim(STORY, OTHER_SAME_EVENT)
    assert not copy and score < 0.3


def test_digests_sharing_a_template_are_not_copies():
    template = ("These are the key developments from day {day} of the war.\n\n"
                "Here is where things stand on {date}:\n\nFighting\n\n{a}\n\nDiplomacy\n\n{b}")
    one = template.format(day=100, date="Monday, May 5", a=STORY.split("\n\n")[0],
                          b="Envoys met in Geneva to discuss a ceasefire draft and guarantees.")
    two = template.format(day=101, date="Tuesday, May 6", a=OTHER_SAME_EVENT.split("\n\n")[0],
                          b="The foreign minister travelled to Ankara for talks on grain exports.")
    assert not sim(one, two)[1]


def test_clean_text_removes_dateline_byline_and_boilerplate():
    text = "KYIV, Ukraine (AP) — Something happened.\nBy Jane Roe\nSource link\nAdvertisement"
    assert clean_text(text) == "Something happened."


def _entry(article_id: str, body: str, at: float) -> BandEntry:
    fp = fingerprint(body, PARAMS)
    return BandEntry(article_id, fp.signature_b64(), fp.size, fp.band_keys[-1], at)


def _shared_bands(a: str, b: str) -> list[int]:
    fa, fb = fingerprint(a, PARAMS), fingerprint(b, PARAMS)
    bands = [i for i in range(PARAMS.bands) if fa.band_keys[i] == fb.band_keys[i]]
    if fa.band_keys[-1] == fb.band_keys[-1]:
        bands.insert(0, EXACT_BAND)
    return bands


def test_a_pair_is_judged_at_its_lowest_shared_band_only():
    copy = STORY.rsplit("\n\n", 1)[0]
    shared = _shared_bands(STORY, copy)
    assert len(shared) >= 2
    now = time.time()
    first, second = _entry("a", STORY, now), _entry("b", copy, now)
    reported = []
    for band in shared:
        result = match_in_band([first], second, band, PARAMS, now=now, max_age=60,
                               max_entries=10)
        reported += [(band, m.article_id) for m in result.matches]
    assert reported == [(shared[0], "a")]


def test_concurrent_copies_never_copy_each_other():
    # The two copies reach their shared bands in opposite orders (two replicas racing):
    # only the authoritative band decides, so exactly one of them is a duplicate.
    copy = STORY.rsplit("\n\n", 1)[0]
    shared = _shared_bands(STORY, copy)
    now = time.time()
    a, b = _entry("a", STORY, now), _entry("b", copy, now)
    verdicts: dict[str, list[Match]] = {"a": [], "b": []}
    for i, band in enumerate(shared):
        first, second = (a, b) if i % 2 else (b, a)
        entries = match_in_band([], first, band, PARAMS, now=now, max_age=60,
                                max_entries=10).entries
        result = match_in_band(entries, second, band, PARAMS, now=now, max_age=60,
                               max_entries=10)
        verdicts[second.article_id] += result.matches
    assert sorted(k for k, v in verdicts.items() if v) in (["a"], ["b"])


def test_registration_is_idempotent_and_expires_old_entries():
    now = time.time()
    old = _entry("old", STORY, now - 1000)
    a = _entry("a", STORY, now)
    b = _entry("b", "ODESA — " + STORY, now)
    band = _shared_bands(STORY, "ODESA — " + STORY)[0]
    r1 = match_in_band([old], a, band, PARAMS, now=now, max_age=100, max_entries=10)
    assert [e.article_id for e in r1.entries] == ["a"] and r1.matches == []
    r2 = match_in_band(r1.entries, b, band, PARAMS, now=now, max_age=100, max_entries=10)
    again = match_in_band(r2.entries, b, band, PARAMS, now=now, max_age=100, max_entries=10)
    assert r2.matches == again.matches and [m.article_id for m in r2.matches] == ["a"]
    assert [e.article_id for e in again.entries] == ["a", "b"]


def test_choose_original_prefers_the_closest_then_the_story_id():
    assert choose_original([]) is None
    best = choose_original([Match("x", "s1", 0.7), Match("y", "s2", 0.95), Match("z", "s0", 0.95)])
    assert best == Match("z", "s0", 0.95)


def test_lsh_parameters_must_fit():
    with pytest.raises(ValueError, match="multiple"):
        LshParams(num_perm=64, bands=10)


def test_empty_text_has_no_bands():
    assert fingerprint("", PARAMS).band_keys == ()
