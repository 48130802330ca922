"""The band index of a dedup.bands partition: answers, and rebuilding it by replay."""

from dataclasses import replace

from services.dedup.detector import LshParams, fingerprint
from services.dedup.index import Answer, BandIndex, register_batcher, registrations
from services.dedup.protocol import (
    BandRegister,
    BandStory,
    StoryMark,
    decode_band_message,
)

PARAMS = LshParams()
PARTITIONS = 8
DAY = 86400.0

PARAGRAPHS = [
    "Air defence units shot down most of the drones launched overnight at the capital, the "
    "city administration said, while debris damaged a school and several parked cars.",
    "Rescue teams worked through the morning to clear rubble from two apartment blocks in the "
    "eastern district, where residents had sheltered in basements during the alert.",
    "The mayor said power had been restored to most homes by noon and urged residents to keep "
    "their phones charged because further attacks were expected in the coming days.",
    "Officials said the barrage was one of the largest this month and that the energy grid "
    "operator had introduced scheduled outages in three regions to balance the network.",
]
STORY = "\n\n".join(PARAGRAPHS)
COPY = "KYIV, Ukraine (AP) — " + "\n\n".join(PARAGRAPHS[:3]) + "\n\nSource link"
OTHER = ("Grain exports through the western border crossings rose for a second month as "
         "hauliers found new routes, the farm ministry said, and rail operators added wagons "
         "to carry sunflower oil and maize to ports on the Danube and in Poland.")


def messages(*articles: tuple[str, str], at: float = 1000.0,
             params: LshParams = PARAMS) -> list[tuple[int, bytes]]:
    """The dedup.bands messages that stage 1 sends for these (id, body) articles."""
    batcher = register_batcher(params)
    for article_id, body in articles:
        items = registrations(article_id, fingerprint(body, params), params, now=at,
                              partitions=PARTITIONS)
        for partition, item in items.items():
            batcher.add(partition, item)
    return list(batcher.drain())


def index() -> BandIndex:
    return BandIndex(PARAMS, max_age=14 * DAY, max_entries=64)


Answers = list[tuple[str, Answer]]  # (article id, what one message answered it)


def apply(idx: BandIndex, value: bytes, now: float) -> Answers:
    return list(idx.apply(decode_band_message(value), now).items())


def replay(log: list[bytes], now: float = 1001.0) -> tuple[BandIndex, Answers]:
    idx, answers = index(), []
    for value in log:
        answers += apply(idx, value, now)
    return idx, answers


def matches_of(answers: Answers, article_id: str) -> set[str]:
    return {m.article_id for a, answer in answers if a == article_id for m in answer.matches}


def test_each_registered_band_answers_once_and_the_copy_finds_the_story():
    sent = messages(("story", STORY), ("copy", COPY), ("other", OTHER))
    replies = []
    for partition in range(PARTITIONS):
        _, found = replay([v for p, v in sent if p == partition])
        replies += found
    for article_id, body in (("story", STORY), ("copy", COPY), ("other", OTHER)):
        bands = [band for a, answer in replies if a == article_id for band in answer.bands]
        assert len(bands) == len(set(bands)) == len(fingerprint(body, PARAMS).band_keys)
    assert matches_of(replies, "copy") == {"story"}
    assert matches_of(replies, "story") == matches_of(replies, "other") == set()


def test_replaying_a_partition_rebuilds_the_same_index_and_answers_the_same():
    log = [v for p, v in messages(("story", STORY), ("copy", COPY)) + messages(("other", OTHER))]
    first, replies = replay(log)
    again, replies_again = replay(log)
    assert replies_again == replies
    assert again.bands == first.bands
    # A message applied twice (a redelivery after a crash) changes nothing.
    assert apply(first, log[0], 1002.0) == replay(log[:1])[1]
    assert first.bands == again.bands


def test_story_marks_reach_later_copies_through_the_band():
    log = [v for _, v in messages(("story", STORY), ("copy", COPY))]
    idx, _ = replay(log)
    fp = fingerprint(COPY, PARAMS)
    idx.apply(BandStory(marks=[StoryMark(article_id="copy", story_id="story",
                                         band_keys=list(fp.band_keys))]), 1002.0)
    late_copy = messages(("late", COPY + "\n\nSign up for our newsletter"))
    answers = [a for _, v in late_copy for a in apply(idx, v, 1003.0)]
    stories = {m.article_id: m.story_id for _, answer in answers for m in answer.matches}
    # The newsletter line is boilerplate, so the late copy is an exact copy of "copy",
    # whose story the band now knows; "story" itself was never marked (it is unique).
    assert stories == {"copy": "story", "story": None}


def test_articles_older_than_the_retention_are_forgotten():
    old = messages(("story", STORY), at=0.0)
    idx, _ = replay([v for _, v in old], now=1.0)
    new = messages(("copy", COPY), at=20 * DAY)
    answers = [a for _, v in new for a in apply(idx, v, 20 * DAY)]
    assert matches_of(answers, "copy") == set()


def test_a_sweep_bounds_the_index_by_the_retention_and_changes_no_answer():
    old = [v for _, v in messages(("story", STORY), ("other", OTHER), at=0.0)]
    fresh = [v for _, v in messages(("copy", COPY), at=10 * DAY)]
    swept, kept = replay(old + fresh, now=10 * DAY)[0], replay(old + fresh, now=10 * DAY)[0]
    keys_before = len(swept.bands)
    assert swept.expire(now=15 * DAY) > 0  # "story" and "other" are past 14 days
    assert len(swept.bands) < keys_before
    assert {e.article_id for entries in swept.bands.values() for e in entries} == {"copy"}
    # A later copy of either gets the same answers from the swept index as from one that
    # was never swept: registering ignores expired entries anyway.
    late = [v for _, v in messages(("late", COPY + "\n\nSource link"), at=15 * DAY)]
    assert [apply(swept, v, 15 * DAY) for v in late] == [apply(kept, v, 15 * DAY)
                                                          for v in late]


def test_registrations_made_with_other_parameters_are_answered_but_never_indexed():
    # A log written before the shingle size changed, then one article with the new size.
    older = replace(PARAMS, shingle_size=4)
    log = [v for _, v in messages(("story", STORY), ("other", OTHER), params=older)]
    idx, answers = replay(log)
    assert idx.ignored == sum(len(decode_band_message(v).registrations) for v in log)
    assert idx.bands == {} and all(not answer.matches for _, answer in answers)
    assert {a for a, _ in answers} == {"story", "other"}  # nobody is left waiting
    copy = [a for _, v in messages(("copy", COPY)) for a in apply(idx, v, 1002.0)]
    assert matches_of(copy, "copy") == set()  # the older entries cannot match it
    legacy = BandRegister.model_validate_json(log[0]).model_copy(update={"params": None})
    before = idx.ignored
    apply(idx, legacy.to_bytes(), 1003.0)
    assert idx.ignored > before  # written before parameters were recorded
