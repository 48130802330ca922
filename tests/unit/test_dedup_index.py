"""dedup's index: verdicts in log order, story trails, and rebuilding it by replay."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from schemas.article_raw import RawArticle
from services.dedup.detector import LshParams
from services.dedup.index import Decision, StoryIndex
from services.dedup.protocol import Sightings, decode_log_message
from services.dedup.stages import FingerprintStage, Topics
from services.dedup.verdicts import render

PARAMS = LshParams()
DAY = 86400.0
T0 = datetime(2024, 3, 1, tzinfo=UTC)

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


def article(article_id: str, body: str, published_minutes: int | None = None) -> RawArticle:
    published = None if published_minutes is None else T0 + timedelta(minutes=published_minutes)
    return RawArticle(id=article_id, url=f"https://news.example/{article_id}",
                      source=f"outlet-{article_id}", title=article_id.title(), body=body,
                      published_at=published, fetched_at=T0 + timedelta(hours=1))


def sightings(*articles: RawArticle, at: float = 1000.0, params: LshParams = PARAMS) -> bytes:
    """The dedup.log message that stage 1 sends for a batch of these articles."""
    stage = FingerprintStage(params, Topics("log", "unique", "duplicates", "stories"),
                             clock=lambda: at)
    batch = stage.new_batch()
    for a in articles:
        stage.handle(batch, a.to_bytes())
    (value,) = batch.drain()
    return value


def index() -> StoryIndex:
    return StoryIndex(PARAMS, max_age=14 * DAY, max_entries=64)


def replay(log: list[bytes]) -> tuple[StoryIndex, list[Decision]]:
    idx, decisions = index(), []
    for value in log:
        decisions += idx.apply(decode_log_message(value))
    return idx, decisions


def originals(decisions: list[Decision]) -> dict[str, str | None]:
    return {d.article.id: None if d.verdict.original is None else d.verdict.original.article_id
            for d in decisions}


STORY_A, COPY_A, OTHER_A = article("story", STORY), article("copy", COPY), article("other", OTHER)


def test_a_copy_is_told_its_original_and_joins_its_story():
    _, decisions = replay([sightings(STORY_A, OTHER_A), sightings(COPY_A)])
    assert originals(decisions) == {"story": None, "other": None, "copy": "story"}
    copy = decisions[-1]
    assert copy.verdict.story_of("copy") == "story"
    assert copy.trail is not None and copy.trail.record().copy_count == 1
    out = render(copy.article, copy.verdict)
    assert out.duplicate_of == "story" and 0.8 <= out.similarity <= 1.0  # type: ignore[union-attr]


def test_a_copy_of_a_copy_joins_the_first_story():
    late = article("late", COPY + "\n\nSign up for our newsletter")
    _, decisions = replay([sightings(STORY_A), sightings(COPY_A), sightings(late)])
    (last,) = [d for d in decisions if d.article.id == "late"]
    assert last.verdict.story_of("late") == "story"
    assert last.trail is not None and last.trail.record().copy_count == 2


def test_the_verdict_is_a_function_of_the_log_and_a_repeat_gets_the_same_one():
    log = [sightings(STORY_A, COPY_A), sightings(OTHER_A)]
    first, decisions = replay(log)
    again, decisions_again = replay(log)
    assert originals(decisions) == originals(decisions_again)
    assert first.keys == again.keys and set(first.entries) == set(again.entries)
    # A message applied twice (a redelivery after a crash) repeats its verdicts and
    # changes nothing.
    repeated = first.apply(decode_log_message(log[0]))
    assert [d.repeated for d in repeated] == [True, True]
    assert originals(repeated) == originals(decisions[:2])
    assert first.keys == again.keys
    assert repeated[1].trail is not None and repeated[1].trail.record().copy_count == 1


def test_the_story_origin_is_the_earliest_publication_whatever_the_order_read():
    early = article("early", COPY, published_minutes=0)
    late = article("late", STORY, published_minutes=30)
    _, decisions = replay([sightings(late), sightings(early)])
    story = decisions[-1].trail
    assert story is not None and story.story_id == "late"  # named after the first read
    assert story.record().origin.article_id == "early"


def test_articles_older_than_the_retention_are_forgotten():
    idx, _ = replay([sightings(STORY_A, at=0.0)])
    (copy,) = idx.apply(decode_log_message(sightings(COPY_A, at=20 * DAY)))
    assert copy.verdict.original is None


def test_a_sweep_bounds_the_index_by_the_retention_and_changes_no_answer():
    log = [sightings(STORY_A, OTHER_A, at=0.0), sightings(COPY_A, at=10 * DAY)]
    swept, kept = replay(log)[0], replay(log)[0]
    keys_before = len(swept.keys)
    # "story" and "other" are past 14 days, and so is the story "copy" joined.
    assert swept.expire(now=14.5 * DAY) > 0
    assert len(swept.keys) < keys_before
    assert set(swept.entries) == {"copy"}
    assert {v for key in swept.keys for v in swept.filed(key)} == {"copy"}
    # A later copy gets the same answer from the swept index as from one never swept.
    late = sightings(article("late", COPY + "\n\nSource link"), at=14.5 * DAY)
    assert originals(swept.apply(decode_log_message(late))) == originals(
        kept.apply(decode_log_message(late))) == {"late": "copy"}


def test_a_key_keeps_only_its_latest_articles():
    idx = StoryIndex(PARAMS, max_age=14 * DAY, max_entries=2)
    idx.apply(decode_log_message(sightings(STORY_A, article("b", STORY), article("c", STORY))))
    assert all(len(idx.filed(key)) <= 2 for key in idx.keys)
    assert max(len(idx.filed(key)) for key in idx.keys) == 2
    assert set(idx.entries) == {"story", "b", "c"}
    idx = StoryIndex(PARAMS, max_age=14 * DAY, max_entries=4)
    idx.apply(decode_log_message(sightings(*(article(n, STORY) for n in "abcde"))))
    assert {idx.filed(key) for key in idx.keys} == {("b", "c", "d", "e")}


def test_sightings_made_with_other_parameters_are_unique_and_never_indexed():
    # A log written before the shingle size changed, then one article with the new size.
    older = replace(PARAMS, shingle_size=4)
    log = [sightings(STORY_A, OTHER_A, params=older)]
    idx, decisions = replay(log)
    assert idx.ignored == 2 and idx.keys == {}
    assert originals(decisions) == {"story": None, "other": None}  # nobody is left waiting
    (copy,) = idx.apply(decode_log_message(sightings(COPY_A)))
    assert copy.verdict.original is None  # the older sightings cannot match it
    message = Sightings.model_validate_json(sightings(COPY_A))
    assert message.params.shingle_size == PARAMS.shingle_size
