"""Which pairs the band index compares, and how a copy picks its original. No Kafka.

The detector (:mod:`services.dedup.detector`) gives every text its keys: LSH bands, the
exact text, anchors. Each key is handled by one partition of the bands stage, so two
copies meet there whichever partition of ``articles.raw`` they arrived on.

Two texts usually share several keys. Only the lowest key they share (the exact text
first, then the bands in order, then the anchors by value: the *authoritative* key)
reports the pair, and only to the later of the two arrivals there. Every replica
computes that key the same way from the two entries, so a pair is judged once and its
order is never contradictory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.dedup.detector import (
    EXACT_BAND,
    Comparable,
    LshParams,
    anchor_value,
    compare,
    decode_values,
    is_copy,
)
from services.dedup.protocol import Entry

__all__ = ["BandEntry", "BandResult", "Match", "authoritative_key", "choose_original",
           "key_authority", "match_in_band"]


@dataclass
class BandEntry:
    """An article registered under its keys, in arrival order."""

    article_id: str
    signature: str  # base64 of little-endian uint32
    sketch: str  # base64 of little-endian uint32
    size: int
    exact_key: str
    seen_at: float
    story_id: str | None = None
    _decoded: Comparable | None = field(default=None, repr=False, compare=False)

    def decoded(self, params: LshParams) -> Comparable:
        """The entry ready for comparisons, decoded once: entries are compared often."""
        if self._decoded is None:
            self._decoded = Comparable.of(decode_values(self.signature),
                                          decode_values(self.sketch), self.size, params)
        return self._decoded

    def to_json(self) -> dict[str, Any]:
        return {"id": self.article_id, "sig": self.signature, "sketch": self.sketch,
                "size": self.size, "exact": self.exact_key, "at": self.seen_at,
                "story": self.story_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BandEntry:
        return cls(data["id"], data["sig"], data["sketch"], data["size"], data["exact"],
                   data["at"], data.get("story"))

    @classmethod
    def from_model(cls, entry: Entry) -> BandEntry:
        return cls(entry.id, entry.sig, entry.sketch, entry.size, entry.exact, entry.at,
                   entry.story)


@dataclass(frozen=True)
class Match:
    """An earlier article that the new one copies."""

    article_id: str
    story_id: str | None  # None: the band has not been told the earlier article's story
    similarity: float


Authority = tuple[int, int]  # (band, 0) for the exact key and bands; (ANCHORS, value)
ANCHORS = 1 << 20  # sorts after every band


def key_authority(band: int, key: str) -> Authority:
    """Where a key stands in the order of :func:`authoritative_key`."""
    value = anchor_value(key)
    return (band, 0) if value is None else (ANCHORS, value)


def authoritative_key(a: BandEntry, b: BandEntry, params: LshParams) -> Authority | None:
    """The lowest key the two share (exact text, then bands, then anchors by value), as
    :func:`key_authority` gives it; None when they share none.

    Two signatures share a band when that band's rows are equal, which is what equal band
    keys stand for; comparing the rows spares hashing every stored entry again.
    """
    if a.exact_key == b.exact_key:
        return (EXACT_BAND, 0)
    da, db = a.decoded(params), b.decoded(params)
    for band, (row_a, row_b) in enumerate(zip(da.rows, db.rows, strict=True)):
        if row_a == row_b:
            return (band, 0)
    shared = da.anchors & db.anchors
    return (ANCHORS, min(shared)) if shared else None


@dataclass
class BandResult:
    """What registering an article under a band key produced."""

    entries: list[BandEntry]
    matches: list[Match] = field(default_factory=list)


def match_in_band(
    entries: list[BandEntry],
    new: BandEntry,
    band: int,
    key: str,
    params: LshParams,
    *,
    now: float,
    max_age: float,
    max_entries: int,
    authorities: dict[str, Authority | None] | None = None,
) -> BandResult:
    """Register ``new`` under one of its keys (``band`` is its number among the article's
    keys) and report the earlier entries it copies for which this key is authoritative.

    Idempotent: registering an article again reports the same earlier entries, so a
    redelivered message gives the same answer. ``authorities`` caches, across the keys of
    one registration, the authoritative key of each earlier entry met.
    """
    if not entries:  # most keys of an article nobody copied: nothing to compare
        return BandResult([new])
    kept = [e for e in entries if now - e.seen_at <= max_age or e.article_id == new.article_id]
    position = next((i for i, e in enumerate(kept) if e.article_id == new.article_id), None)
    if position is None:
        earlier = kept
        kept = [*kept, new][-max_entries:]
    else:
        earlier = kept[:position]
    here = key_authority(band, key)
    cache = {} if authorities is None else authorities
    matches = []
    for entry in earlier:
        authority = cache.get(entry.article_id, False)
        if authority is False:
            authority = cache[entry.article_id] = authoritative_key(new, entry, params)
        if authority != here:
            continue
        sim = compare(new.decoded(params), entry.decoded(params), params)
        if band == EXACT_BAND or is_copy(sim, new.size, entry.size, params):
            score = 1.0 if band == EXACT_BAND else sim.score
            matches.append(Match(entry.article_id, entry.story_id, score))
    return BandResult(kept, matches)


def choose_original(matches: list[Match]) -> Match | None:
    """The earlier article a new one copies: the most similar, ties by story then id."""
    if not matches:
        return None
    return min(matches, key=lambda m: (-round(m.similarity, 6), m.story_id or m.article_id,
                                       m.article_id))
