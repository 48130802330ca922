"""Synthetic wire stories and their syndicated copies, for the benchmark and the tests.

Every story is new prose drawn from a seeded random generator, so a run is reproducible
and two different stories share no run of five words by chance. A copy is made the way
outlets republish wire copy: another headline (or none), a dateline or byline added, a
photo caption or newsletter line inserted, "Source link" appended, the last paragraphs
cut. A share of stories carries a place name and a topic sentence, so that the classifier
and the notifier have something to find.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.article_raw import RawArticle

__all__ = ["SyntheticItem", "make_copy", "make_story", "stream"]

_ONSETS = ["b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kl", "l", "m", "n", "p", "pr",
           "r", "s", "st", "t", "tr", "v", "z", "sh", "ch"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ia"]
_CODAS = ["", "", "n", "r", "s", "l", "m", "k", "t"]
_GLUE = ["the", "a", "of", "in", "on", "and", "to", "with", "after", "said", "was", "by",
         "for", "from", "as", "at", "that", "its", "were", "had"]

# A place the notifier's demo rules know under several spellings, and one sentence per
# topic; a story gets at most one of each.
PLACES = ["Kyiv", "Kiev", "Kharkiv", "Odesa", "Odessa", "Zaporizhzhia", "Mykolaiv", "Dnipro"]
TOPIC_SENTENCES = {
    "strikes": "Drones and missiles struck targets in {place} overnight, officials said.",
    "energy": "The attack damaged a power plant and caused blackouts across {place}.",
    "diplomacy": "Negotiators met in {place} to discuss a ceasefire and security guarantees.",
    "ground-combat": "Troops near {place} reported heavy fighting along the front line.",
    "military-aid": "A new military aid package with air defence systems arrived in {place}.",
}

_DATELINES = ["KYIV, Ukraine (Wire) — ", "WASHINGTON — ", "BRUSSELS (Wire) — ",
              "LONDON — ", "WARSAW, Poland — "]
_BYLINES = ["By Ola Nordin, Staff reporter", "By Marta Kowal and Ivan Petrenko",
            "By the Desk Team"]
_INSERTS = ["Photo: Firefighters at the scene on Tuesday. (Agency photo)",
            "Sign up for our morning briefing to get the day's top stories in your inbox.",
            "Read more: our full coverage of the war in Ukraine.",
            "This story has been updated with additional reporting."]
_SOURCES = ["Wire A", "Daily B", "Regional C", "Evening D", "Monitor E", "Herald F"]


@dataclass(frozen=True)
class SyntheticItem:
    """An article to publish, the id of the original it copies (if any) and its topic."""

    article: RawArticle
    copy_of: str | None = None
    topic: str | None = None
    place: str | None = None


class _Prose:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def word(self) -> str:
        rng = self.rng
        if rng.random() < 0.3:
            return rng.choice(_GLUE)
        syllables = rng.randint(2, 3)
        return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)) + (
            rng.choice(_CODAS))

    def sentence(self) -> str:
        text = " ".join(self.word() for _ in range(self.rng.randint(9, 17)))
        return text[0].upper() + text[1:] + "."

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(2, 4)))

    def headline(self) -> str:
        text = " ".join(self.word() for _ in range(self.rng.randint(5, 9)))
        return text[0].upper() + text[1:]


def make_story(rng: random.Random, article_id: str, *, topic_share: float = 0.5,
               paragraphs: int = 6, now: datetime | None = None) -> SyntheticItem:
    """A new original story; about ``topic_share`` of them name a place and a topic."""
    prose = _Prose(rng)
    body = [prose.paragraph() for _ in range(paragraphs)]
    topic = place = None
    if rng.random() < topic_share:
        topic = rng.choice(sorted(TOPIC_SENTENCES))
        place = rng.choice(PLACES)
        body[0] = TOPIC_SENTENCES[topic].format(place=place) + " " + body[0]
    article = RawArticle(
        id=article_id, url=f"https://news.example/{article_id}", source=rng.choice(_SOURCES),
        title=prose.headline(), body="\n\n".join(body), fetched_at=now or datetime.now(UTC))
    return SyntheticItem(article, None, topic, place)


def make_copy(rng: random.Random, original: SyntheticItem, article_id: str,
              now: datetime | None = None) -> SyntheticItem:
    """A syndicated copy of ``original`` with two to four typical republishing edits."""
    prose = _Prose(rng)
    paragraphs = original.article.body.split("\n\n")
    title = original.article.title
    edits = rng.sample(["headline", "dateline", "byline", "insert", "source", "cut"],
                       rng.randint(2, 4))
    if "cut" in edits and len(paragraphs) > 4:
        paragraphs = paragraphs[: len(paragraphs) - rng.randint(1, 2)]
    if "insert" in edits:
        paragraphs.insert(rng.randint(1, len(paragraphs) - 1), rng.choice(_INSERTS))
    if "dateline" in edits:
        paragraphs[0] = rng.choice(_DATELINES) + paragraphs[0]
    if "byline" in edits:
        paragraphs.insert(0, rng.choice(_BYLINES))
    if "source" in edits:
        paragraphs.append("Source link")
    if "headline" in edits:
        title = rng.choice(["", prose.headline()])
    source = rng.choice([s for s in _SOURCES if s != original.article.source])
    article = RawArticle(
        id=article_id, url=f"https://{source.split()[-1].lower()}.example/{article_id}",
        source=source, title=title, body="\n\n".join(paragraphs),
        fetched_at=now or datetime.now(UTC))
    return SyntheticItem(article, original.article.id, original.topic, original.place)


def stream(count: int, *, copy_share: float = 0.3, topic_share: float = 0.5, seed: int = 1,
           prefix: str = "syn") -> list[SyntheticItem]:
    """``count`` articles in publishing order; ``copy_share`` of them copy an earlier one.

    Copies follow their original at a random distance, as republications do.
    """
    rng = random.Random(seed)
    copies = round(count * copy_share)
    originals = [make_story(rng, f"{prefix}-{i:06d}", topic_share=topic_share)
                 for i in range(count - copies)]
    ordered: list[tuple[float, SyntheticItem]] = [(float(i), o) for i, o in enumerate(originals)]
    for j in range(copies):
        index = rng.randrange(len(originals))
        copy = make_copy(rng, originals[index], f"{prefix}-c{j:06d}")
        ordered.append((rng.uniform(index + 0.01, len(originals)), copy))
    ordered.sort(key=lambda pair: pair[0])
    return [item for _, item in ordered]
