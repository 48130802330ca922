"""The band index of one ``dedup.bands`` partition (no Kafka).

It is a pure function of the partition's messages in offset order: registrations append
articles under their band keys, story marks annotate them. So the partition itself is the
index's log: a replica that takes the partition over rebuilds the index by replaying it,
and no table changelog has to be written for every band of every article.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.dedup.detector import EXACT_BAND, Fingerprint, LshParams
from services.dedup.logic import Authority, BandEntry, Match, match_in_band
from services.dedup.protocol import (
    BandMessage,
    BandRegister,
    BandStory,
    Batcher,
    DetectorParams,
    Entry,
    Registration,
    StoryMark,
    band_partition,
)

__all__ = ["Answer", "BandIndex", "bands_by_partition", "register_batcher", "registrations",
           "story_marks"]


def bands_by_partition(band_keys: Sequence[str], params: LshParams,
                       partitions: int) -> dict[int, list[tuple[int, str]]]:
    """An article's (band index, band key) pairs, grouped by the partition holding the key."""
    grouped: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for band, band_key in enumerate(band_keys):
        number = EXACT_BAND if band == params.bands else band
        grouped[band_partition(band_key, partitions)].append((number, band_key))
    return grouped


def register_batcher(params: LshParams) -> Batcher:
    """A batcher of :class:`BandRegister` messages stamped with the detector parameters."""
    return Batcher(BandRegister, "registrations", head=DetectorParams(**params.tag()),
                   head_field="params")


def registrations(article_id: str, fp: Fingerprint, params: LshParams, *, now: float,
                  partitions: int) -> dict[int, Registration]:
    """An article's registration for each partition holding its band keys."""
    if not fp.band_keys:
        return {}
    entry = Entry(id=article_id, sig=fp.signature_b64(), sketch=fp.sketch_b64(), size=fp.size,
                  exact=fp.band_keys[params.bands], at=now)
    return {p: Registration(entry=entry, bands=bands)
            for p, bands in bands_by_partition(fp.band_keys, params, partitions).items()}


def story_marks(article_id: str, story_id: str, band_keys: Sequence[str], params: LshParams,
                *, partitions: int) -> dict[int, StoryMark]:
    """An article's story mark for each partition holding its band keys."""
    return {p: StoryMark(article_id=article_id, story_id=story_id,
                         band_keys=[key for _, key in bands])
            for p, bands in bands_by_partition(band_keys, params, partitions).items()}


@dataclass
class Answer:
    """What an index answers an article: the numbers of its keys registered here, and
    the earlier copies found at those of them that are authoritative."""

    bands: list[int] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)


@dataclass
class BandIndex:
    """Per band key, the articles registered under it in arrival order."""

    params: LshParams
    max_age: float
    max_entries: int
    bands: dict[str, list[BandEntry]] = field(default_factory=dict)
    next_offset: int = 0  # the first offset of the partition not applied yet
    ignored: int = 0  # registrations made with other detector parameters, not indexed

    def __post_init__(self) -> None:
        self._tag = DetectorParams(**self.params.tag())

    def expire(self, now: float) -> int:
        """Drop the entries older than ``max_age`` (and band keys left empty); return how
        many went. Registering already ignores them, so nothing answers differently: this
        only bounds memory by the retention, for keys no article shares again."""
        removed = 0
        for band_key in list(self.bands):
            entries = self.bands[band_key]
            kept = [e for e in entries if now - e.seen_at <= self.max_age]
            removed += len(entries) - len(kept)
            if kept:
                self.bands[band_key] = kept
            else:
                del self.bands[band_key]
        return removed

    def apply(self, message: BandMessage, now: float) -> dict[str, Answer]:
        """Apply one message; return, per article, the band answers it gives.

        Applying a message again gives the same answers and leaves the index as it was.
        """
        answers: dict[str, Answer] = {}
        if isinstance(message, BandStory):
            for mark in message.marks:
                for band_key in mark.band_keys:
                    for entry in self.bands.get(band_key, ()):
                        if entry.article_id == mark.article_id:
                            entry.story_id = mark.story_id
            return answers
        if message.params != self._tag:
            # Signatures and keys of other parameters cannot be compared with these: such
            # an article is neither indexed nor matched, only answered so it is not kept
            # waiting (it is then unique to this index).
            self.ignored += len(message.registrations)
            for registration in message.registrations:
                answers[registration.entry.id] = Answer([band for band, _ in registration.bands])
            return answers
        for registration in message.registrations:
            new = BandEntry.from_model(registration.entry)
            found = answers.setdefault(new.article_id, Answer())
            authorities: dict[str, Authority | None] = {}
            for band, band_key in registration.bands:
                result = match_in_band(self.bands.get(band_key, []), new, band, band_key,
                                       self.params,
                                       now=now, max_age=self.max_age,
                                       max_entries=self.max_entries,
                                       authorities=authorities)
                self.bands[band_key] = result.entries
                found.bands.append(band)
                found.matches += result.matches
        return answers
