"""dedup's judgement measured on real text: ``wirewatch eval-dedup``. No Kafka.

The originals are the real, openly licensed articles of ``data/topics`` (see its
NOTICE). From each, deterministic edits make the copies that syndication makes; the hard
cases are built around them:

* copies: headline changed or dropped, dateline and byline added, photo captions,
  "Source link", share and newsletter lines at head and tail, last paragraphs cut,
  paragraphs merged or split, spelling swaps (Kyiv/Kiev, per cent/percent…), straight vs
  typographic quotes, odd white space and Unicode forms; and a short article republished
  inside a long newsletter head and tail (a copy of it);
* not copies: two different articles wrapped in the same long newsletter template (two
  days of one newsletter), and "key events" digests made of the lead paragraphs of
  several stories (a story of their own, not a copy of any item they quote; two digests
  are not copies of each other).

Every document is judged by dedup's own index, in a random arrival order: it is a copy
when an earlier document shares enough keys with it (LSH bands, exact text, anchors) and the
pair passes ``is_copy``; it then joins the story of its most similar such document.
The newsletter templates and digest frames are this module's own text; the articles
inside them are real.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.article_raw import RawArticle
from services.classifier.corpus import CorpusArticle
from services.dedup.detector import Comparable, LshParams, called_copies, copies, fingerprint
from services.dedup.index import StoryIndex
from services.dedup.protocol import decode_log_message
from services.dedup.stages import FingerprintStage, Topics

__all__ = ["DedupScores", "Doc", "Grouping", "PairCounts", "build_set", "grouping",
           "inserted_pairs", "judge", "score", "template_pairs"]

Kind = str  # "original", "copy", "wrapped-copy", "template-wrap", "digest"


@dataclass(frozen=True)
class Doc:
    """One document of the evaluation stream and the story it truly belongs to."""

    id: str
    story: str
    kind: Kind
    title: str
    body: str
    edits: tuple[str, ...] = ()


_NEWSLETTER_HEAD = [
    "The Morning Dispatch", "Your daily briefing on the war and the region, edited by our "
    "foreign desk.", "Good morning. Here is what you need to know today, with the stories "
    "our correspondents filed overnight and the ones we expect to matter this week.",
    "Forwarded this email? Sign up here to get the Morning Dispatch in your inbox every "
    "weekday.", "In today's edition: the lead story, the numbers to watch, and what our "
    "readers asked us about. As always, reply to this email with your questions.",
    "Our coverage is free to read thanks to readers who support independent journalism. "
    "If you value it, consider becoming a member: it takes two minutes and helps us keep "
    "reporters in the field.",
]
_NEWSLETTER_TAIL = [
    "That's all for today. Thanks for reading, and see you tomorrow.",
    "Did someone forward you this newsletter? Sign up to receive it directly, and browse "
    "the archive of past editions on our website.",
    "You are receiving this email because you subscribed to the Morning Dispatch. Update "
    "your preferences or unsubscribe at any time from the link below. We never share your "
    "address with third parties.",
    "Questions, corrections or tips? Write to the foreign desk; we read every message and "
    "answer as many as we can. Corrections are published at the end of each edition.",
    "The Morning Dispatch is edited by the foreign desk with contributions from our "
    "correspondents in Kyiv, Warsaw, Brussels and Washington. Design by the digital team.",
    "Copyright the publisher. All rights reserved. Our postal address is on our website.",
]
_CAPTIONS = ["A rescuer works at the site on Tuesday. (Photo: staff photographer)",
             "Residents look at the damage. File photo", "Getty Images"]
_SWAPS = [("Kyiv", "Kiev"), ("Odesa", "Odessa"), ("Kharkiv", "Kharkov"),
          ("per cent", "percent"), ("Zelenskyy", "Zelensky"), ("Mykolaiv", "Nikolaev")]


def _paragraphs(body: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n|\n", body) if p.strip()]


def _join(paragraphs: Sequence[str]) -> str:
    return "\n\n".join(paragraphs)


# Each edit takes and returns paragraphs; all keep the story's text recognisable.
def _dateline(p: list[str], rng: random.Random) -> list[str]:
    place = rng.choice(["KYIV, Ukraine (Wire) — ", "WASHINGTON — ", "MOSCOW (Wire) — "])
    return [place + p[0], *p[1:]] if p else p


def _byline(p: list[str], rng: random.Random) -> list[str]:
    return [rng.choice(["By Jane Doe", "By Olena Koval and Mark Reed"]), *p]


def _captions(p: list[str], rng: random.Random) -> list[str]:
    at = rng.randrange(1, max(2, len(p)))
    return [*p[:at], rng.choice(_CAPTIONS), *p[at:]]


def _boilerplate(p: list[str], rng: random.Random) -> list[str]:
    return ["Share this article", *p, "Source link",
            "Sign up for our newsletter to get the day's news in your inbox."]


def _cut_tail(p: list[str], rng: random.Random) -> list[str]:
    keep = max(1, round(len(p) * rng.uniform(0.75, 0.9)))
    return p[:keep] if len(p) > 3 else p


def _merge_split(p: list[str], rng: random.Random) -> list[str]:
    if len(p) >= 2 and rng.random() < 0.5:
        at = rng.randrange(len(p) - 1)
        return [*p[:at], p[at] + " " + p[at + 1], *p[at + 2:]]
    out = []
    for para in p:
        sentences = re.split(r"(?<=[.!?])\s+", para)
        half = len(sentences) // 2
        out += [" ".join(sentences[:half]), " ".join(sentences[half:])] if half else [para]
    return [x for x in out if x]


def _spelling(p: list[str], rng: random.Random) -> list[str]:
    text = _join(p)
    for a, b in _SWAPS:
        text = text.replace(a, b) if rng.random() < 0.5 else text.replace(b, a)
    return _paragraphs(text)


def _typography(p: list[str], rng: random.Random) -> list[str]:
    text = _join(p)
    if "’" in text or "“" in text:
        text = text.replace("’", "'").replace("“", '"').replace("”", '"')
    else:
        text = re.sub(r"'", "’", text)
        text = re.sub(r'"([^"]*)"', r"“\1”", text)
    text = text.replace(" ", rng.choice(["  ", " ", " "]), 3)
    return _paragraphs(unicodedata.normalize(rng.choice(["NFC", "NFD", "NFKC"]), text))


EDITS: dict[str, Callable[[list[str], random.Random], list[str]]] = {
    "dateline": _dateline, "byline": _byline, "captions": _captions,
    "boilerplate": _boilerplate, "cut-tail": _cut_tail, "merge-split": _merge_split,
    "spelling": _spelling, "typography": _typography,
}


def _wrap(body: str, rng: random.Random, day: int) -> str:
    head = [f"Morning Dispatch, day {day}", *_NEWSLETTER_HEAD]
    tail = list(_NEWSLETTER_TAIL)
    rng.shuffle(tail)
    return _join([*head, "TODAY'S LEAD STORY", *_paragraphs(body), "MORE FROM US", *tail])


def _lead(body: str, words: int = 60) -> str:
    """The first two sentences, at most ``words`` words: what a digest quotes."""
    first = " ".join(re.split(r"(?<=[.!?])\s+", _paragraphs(body)[0])[:2]).split()
    return " ".join(first[:words])


def _digest(leads: Sequence[tuple[str, str]], day: int) -> str:
    lines = [f"Key events on day {day} of the war", "Here are the key developments so far:"]
    for title, lead in leads:
        lines.append(f"{title}: {lead}" if title else lead)
    return _join(lines)


def build_set(articles: Sequence[CorpusArticle], seed: int = 7, *, originals: int = 300,
              short_words: int = 250) -> list[Doc]:
    """Originals, their copies and the hard negatives, in a random arrival order."""
    rng = random.Random(seed)
    usable = [a for a in articles if 80 <= len(a.body.split()) <= 3000]
    rng.shuffle(usable)
    chosen, spare = usable[:originals], usable[originals:]
    docs: list[Doc] = []
    short = [a for a in chosen if len(a.body.split()) <= short_words]
    for n, article in enumerate(chosen):
        docs.append(Doc(article.id, article.story, "original", article.title, article.body))
        paragraphs = _paragraphs(article.body)
        for c in range(rng.choice((1, 1, 2, 3))):
            names = rng.sample(sorted(EDITS), rng.randint(2, 4))
            edited = list(paragraphs)
            for name in names:
                edited = EDITS[name](edited, rng)
            title = rng.choice([article.title, "", "UPDATE: " + article.title])
            docs.append(Doc(f"{article.id}~c{c}", article.story, "copy", title, _join(edited),
                            tuple(names)))
        if article in short[: len(short) // 2]:
            docs.append(Doc(f"{article.id}~nl", article.story, "wrapped-copy", "Morning Dispatch",
                            _wrap(article.body, rng, n), ("newsletter-wrap",)))
    # Two days of one newsletter around articles not otherwise in the stream.
    wrapped_alone = [a for a in spare if len(a.body.split()) <= short_words][:40]
    for n, article in enumerate(wrapped_alone):
        docs.append(Doc(f"{article.id}~day{n}", f"template-{article.id}", "template-wrap",
                        "Morning Dispatch", _wrap(article.body, rng, 100 + n)))
    # Digests of the lead paragraphs of several stories of the stream.
    for n in range(30):
        picks = rng.sample(chosen, 5)
        leads = [(a.title, _lead(a.body)) for a in picks]
        docs.append(Doc(f"digest-{n}", f"digest-{n}", "digest", f"Key events, day {n}",
                        _digest(leads, n)))
    rng.shuffle(docs)
    return docs


def reorder(docs: Sequence[Doc], seed: int) -> list[Doc]:
    """The same documents in another arrival order."""
    shuffled = list(docs)
    random.Random(seed).shuffle(shuffled)
    return shuffled


@dataclass
class Judged:
    """dedup's answer for one document: the earlier document it copies, if any, and the
    story it is part of once every document has been read (stories that a later
    document copied both of are one by then)."""

    doc: Doc
    matched: Doc | None = None
    similarity: float = 0.0
    story: str = ""


def judge(docs: Sequence[Doc], params: LshParams, *, max_entries: int = 64) -> list[Judged]:
    """Each document in turn through dedup's fingerprint stage and index, as the service
    reads them: the earlier document it copies (the most similar), if any."""
    clock = iter(range(len(docs))).__next__
    stage = FingerprintStage(params, Topics("log", "unique", "duplicates", "stories"),
                             clock=lambda: float(clock()))
    index = StoryIndex(params, max_age=float("inf"), max_entries=max_entries)
    by_id = {doc.id: doc for doc in docs}
    out = []
    for doc in docs:
        batch = stage.new_batch()
        stage.handle(batch, _as_article(doc).to_bytes())
        (value,) = batch.drain()
        (decision,) = index.apply(decode_log_message(value))
        original = decision.verdict.original
        if original is None:
            out.append(Judged(doc))
        else:
            out.append(Judged(doc, by_id[original.article_id], original.similarity))
    for judged in out:
        judged.story = index.story(index.entries[judged.doc.id].story_id)
    return out


@dataclass(frozen=True)
class Grouping:
    """The stories as they stand after the whole stream, against the truth."""

    stories: int  # true stories with more than one document
    whole: int  # of those, all documents in one of dedup's stories
    joined: int  # dedup's stories holding documents of more than one true story


def grouping(judged: Sequence[Judged]) -> Grouping:
    found: dict[str, set[str]] = {}
    truth: dict[str, set[str]] = {}
    for j in judged:
        found.setdefault(j.story, set()).add(j.doc.story)
        truth.setdefault(j.doc.story, set()).add(j.story)
    documents = Counter(j.doc.story for j in judged)
    several = [ours for story, ours in truth.items() if documents[story] > 1]
    return Grouping(len(several), sum(len(ours) == 1 for ours in several),
                    sum(len(theirs) > 1 for theirs in found.values()))


def _as_article(doc: Doc) -> RawArticle:
    return RawArticle(id=doc.id, url=f"https://eval.example/{doc.id}", source="eval",
                      title=doc.title, body=doc.body,
                      fetched_at=datetime(2024, 1, 1, tzinfo=UTC))


@dataclass
class DedupScores:
    """Copy decisions against the truth, overall and per kind of document."""

    expected: int = 0  # documents with an earlier document of their own story
    caught: int = 0  # of those, called a copy of a document of their own story
    called: int = 0  # documents called a copy of anything
    wrong: int = 0  # called a copy of a document of another story
    missed_by_kind: dict[str, int] = field(default_factory=dict)
    expected_by_kind: dict[str, int] = field(default_factory=dict)
    false_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return (self.called - self.wrong) / self.called if self.called else 1.0

    @property
    def recall(self) -> float:
        return self.caught / self.expected if self.expected else 1.0


def score(judged: Sequence[Judged]) -> DedupScores:
    scores = DedupScores()
    seen_stories: set[str] = set()
    for j in judged:
        kind = j.doc.kind
        has_earlier = j.doc.story in seen_stories
        seen_stories.add(j.doc.story)
        if has_earlier:
            scores.expected += 1
            scores.expected_by_kind[kind] = scores.expected_by_kind.get(kind, 0) + 1
            if j.matched is not None and j.matched.story == j.doc.story:
                scores.caught += 1
            else:
                scores.missed_by_kind[kind] = scores.missed_by_kind.get(kind, 0) + 1
        if j.matched is not None:
            scores.called += 1
            if j.matched.story != j.doc.story:
                scores.wrong += 1
                scores.false_by_kind[kind] = scores.false_by_kind.get(kind, 0) + 1
    return scores


@dataclass(frozen=True)
class PairCounts:
    """How many pairs of one kind dedup calls copies."""

    pairs: int
    called: int


def template_pairs(articles: Sequence[CorpusArticle], params: LshParams, *, seed: int = 1,
                   words: tuple[int, int] = (50, 250)) -> PairCounts:
    """Every pair of different stories from one source, each wrapped in the same newsletter
    template on another day. A source's articles are written in its own formulas (a
    ministry's readouts, a portal's daily items), which is what makes the frame hard to
    see; none of these pairs is a copy."""
    rng = random.Random(seed)
    # Each wrap's comparable form is built once: a source has hundreds of pairs per text.
    by_source: dict[str, list[tuple[str, Comparable, str]]] = {}
    short = [a for a in articles if words[0] <= len(a.body.split()) <= words[1]]
    for day, article in enumerate(short):
        fp = fingerprint(_wrap(article.body, rng, day), params)
        by_source.setdefault(article.source, []).append(
            (article.story, Comparable.from_fingerprint(fp, params), fp.exact))
    pairs = called = 0
    for group in by_source.values():
        for i, (story_a, a, exact_a) in enumerate(group):
            for story_b, b, exact_b in group[i + 1:]:
                if story_a != story_b:
                    pairs += 1
                    called += called_copies(a, exact_a, b, exact_b, params)
    return PairCounts(pairs, called)


def inserted_pairs(articles: Sequence[CorpusArticle], params: LshParams, *, seed: int = 2,
                   count: int = 600) -> PairCounts:
    """Two copies of one article, each with a sentence of another article inserted at a
    paragraph break of its own choosing (an outlet's uncredited caption or link line):
    every pair is a copy. When both inserts fall at the same break the pair looks like a
    frame around two texts; how often that costs a copy is what this counts."""
    rng = random.Random(seed)
    usable = [a for a in articles if 80 <= len(a.body.split()) <= 3000]
    rng.shuffle(usable)
    count = min(count, len(usable) // 2)
    donors = usable[count:]
    sentences = [s for a in donors for s in re.split(r"(?<=[.!?])\s+", a.body)
                 if 8 <= len(s.split()) <= 30]
    called = 0
    for article in usable[:count]:
        paragraphs = _paragraphs(article.body)
        made = []
        for _ in range(2):
            edited = list(paragraphs)
            edited.insert(rng.randrange(1, max(2, len(edited))), rng.choice(sentences))
            made.append(fingerprint(_join(edited), params))
        called += copies(made[0], made[1], params)
    return PairCounts(count, called)
