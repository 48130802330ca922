"""dedup's internal messages between its stages (not part of the public contract).

Stages exchange batches: one message carries everything a batch of input has for one
partition of the receiving topic, so the per-message cost of Kafka and faust is paid per
batch rather than per article and band. An article's partition is the one Kafka's
default partitioner gives its id (:func:`partition_for`), which is also where faust's
tables keep that article's state; a band key's is :func:`band_partition`.

``dedup.bands`` (one partition per band key) carries :class:`BandRegister` and
:class:`BandStory`; ``dedup.votes`` (one partition per article id) carries
:class:`VoteArticles` and :class:`VoteReplies`, and single :class:`VoteAsk` /
:class:`VoteAnswer` messages (key: article id), with which a copy learns the story of the
earlier copy it matched when that one's story was not yet recorded in the band.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import orjson
from aiokafka.partitioner import murmur2
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from schemas.article_raw import RawArticle
from schemas.base import Event, MessageDecodeError, describe_errors
from schemas.story import StoryMember

__all__ = [
    "BandMessage",
    "BandRegister",
    "BandStory",
    "Batcher",
    "DetectorParams",
    "Entry",
    "ItemTooLarge",
    "MatchOut",
    "Registration",
    "StoryJoin",
    "StoryMark",
    "VoteAnswer",
    "VoteArticle",
    "VoteArticles",
    "VoteAsk",
    "VoteJoins",
    "VoteMessage",
    "VoteReplies",
    "VoteReply",
    "band_partition",
    "decode_band_message",
    "decode_vote_message",
    "partition_for",
]


@functools.lru_cache(maxsize=1 << 16)
def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives ``key``.

    aiokafka's murmur2 is pure Python and each stage asks for an article's partition
    again: the recent answers are kept."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def band_partition(band_key: str, partitions: int) -> int:
    """The partition of ``dedup.bands`` that holds a band key.

    No table follows band keys (the index is rebuilt from the partition itself), so any
    stable hash will do; CRC-32 runs in C, murmur2 in Python, and an article has 17 keys.
    """
    return zlib.crc32(band_key.encode()) % partitions


class Part(BaseModel):
    """An item inside a batch message."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Entry(Part):
    """An article as a band keeps it (:class:`~services.dedup.logic.BandEntry` as JSON)."""

    id: str
    sig: str = Field(description="MinHash signature, base64 of little-endian uint32.")
    sketch: str = Field(description="Sampled shingle hashes in text order, base64 of "
                                    "little-endian uint32.")
    size: int = Field(ge=0, description="Distinct shingles.")
    exact: str = Field(description="The exact-text band key.")
    at: float = Field(description="When it was first seen (Unix time).")
    story: str | None = None


class DetectorParams(Part):
    """The detector parameters that produced a registration's keys, signature and sketch
    (:meth:`~services.dedup.detector.LshParams.tag`). Entries made with other ones are
    not comparable."""

    shingle_size: int
    num_perm: int
    bands: int
    seed: int
    sketch_mod: int
    anchor_mod: int
    normaliser: int


class Registration(Part):
    """Register an article under the band keys of one partition, asking for earlier copies."""

    entry: Entry
    bands: list[tuple[int, str]] = Field(
        description="(band index, band key) pairs; band -1 is the exact-text band.")


class BandRegister(Event):
    """Registrations for one partition of ``dedup.bands``."""

    op: Literal["register"] = "register"
    params: DetectorParams | None = Field(
        default=None, description="None: written before parameters were recorded.")
    registrations: list[Registration]


class StoryMark(Part):
    """Record, under these band keys, the story an article belongs to."""

    article_id: str
    story_id: str
    band_keys: list[str]


class BandStory(Event):
    """Story marks for one partition of ``dedup.bands``."""

    op: Literal["story"] = "story"
    marks: list[StoryMark]


class MatchOut(Part):
    """An earlier article that the asking article copies."""

    article_id: str
    story_id: str | None = Field(description="None while the band does not know it yet.")
    similarity: float = Field(ge=0, le=1)


class VoteArticle(Part):
    """The article itself and the band keys whose replies to wait for."""

    article: RawArticle
    band_keys: list[str]


class VoteArticles(Event):
    """Articles for one partition of ``dedup.votes``."""

    op: Literal["articles"] = "articles"
    articles: list[VoteArticle]


class VoteReply(Part):
    """The answers of some of an article's keys (those of one batch of the index stage):
    which keys answered, and the earlier copies found at the keys authoritative for them."""

    article_id: str
    bands: list[int] = Field(description="Numbers of the article's keys answered here.")
    matches: list[MatchOut]


class VoteReplies(Event):
    """Band replies for one partition of ``dedup.votes``."""

    op: Literal["replies"] = "replies"
    replies: list[VoteReply]


class VoteAsk(Event):
    """Sent to ``target``'s partition: which story is ``target`` part of?"""

    op: Literal["ask"] = "ask"
    target: str
    asker: str


class VoteAnswer(Event):
    """Sent back to the asker: the target's story, or the earlier copy to ask next."""

    op: Literal["answer"] = "answer"
    article_id: str = Field(description="The asker.")
    target: str
    story_id: str | None = None
    next: str | None = None


class StoryJoin(Part):
    """A copy (or the first copy) joins its story: sent to the story's partition."""

    story_id: str
    member: StoryMember


class VoteJoins(Event):
    """Story joins for one partition of ``dedup.votes``."""

    op: Literal["joins"] = "joins"
    joins: list[StoryJoin]


BandMessage = BandRegister | BandStory
VoteMessage = VoteArticles | VoteReplies | VoteAsk | VoteAnswer | VoteJoins
# One pass of pydantic's JSON parser per message, the kind chosen by "op".
_BAND_ADAPTER: TypeAdapter[BandMessage] = TypeAdapter(
    Annotated[BandMessage, Field(discriminator="op")])
_VOTE_ADAPTER: TypeAdapter[VoteMessage] = TypeAdapter(
    Annotated[VoteMessage, Field(discriminator="op")])


def _decode(raw: bytes, adapter: TypeAdapter[Any], topic: str) -> Any:
    if not raw:
        raise MessageDecodeError(f"{topic}: empty message value")
    try:
        message = adapter.validate_json(raw)
    except ValidationError as exc:
        raise MessageDecodeError(f"{topic}: {describe_errors(exc)}") from None
    if message.schema_version > message.SCHEMA_VERSION:
        raise MessageDecodeError(
            f"{topic}: schema_version {message.schema_version} is newer than the supported "
            f"{message.SCHEMA_VERSION}")
    return message


def decode_band_message(raw: bytes) -> BandMessage:
    """Parse a ``dedup.bands`` value; MessageDecodeError if it is neither kind."""
    message: BandMessage = _decode(raw, _BAND_ADAPTER, "dedup.bands")
    return message


def decode_vote_message(raw: bytes) -> VoteMessage:
    """Parse a ``dedup.votes`` value; MessageDecodeError if it is none of the kinds."""
    message: VoteMessage = _decode(raw, _VOTE_ADAPTER, "dedup.votes")
    return message


class ItemTooLarge(ValueError):
    """One item is too large for a message of its own."""


class Batcher:
    """Items bound for one topic, grouped by partition into batch messages.

    A message is closed once its items pass ``max_bytes`` (well under the broker's
    1 MB limit), so a batch of long articles becomes several messages.
    """

    def __init__(self, kind: type[Event], field: str, *, max_bytes: int = 512 * 1024,
                 head: Part | None = None, head_field: str = "") -> None:
        self._head: dict[str, Any] = {"schema_version": kind.SCHEMA_VERSION,
                                      "op": kind.model_fields["op"].default}
        if head is not None:
            self._head[head_field] = head.model_dump(mode="json")
        self._field = field
        self._max_bytes = max_bytes
        self._open: dict[int, tuple[list[bytes], int]] = {}
        self._closed: list[tuple[int, list[bytes]]] = []

    def add(self, partition: int, item: Part) -> None:
        """Queue one item for ``partition``; ItemTooLarge if it alone would pass
        ``max_bytes``."""
        encoded = item.model_dump_json().encode()
        if len(encoded) > self._max_bytes:
            raise ItemTooLarge(f"{len(encoded):,} bytes encoded, over the {self._max_bytes:,} "
                               "bytes one message may carry")
        items, size = self._open.get(partition, ([], 0))
        if items and size + len(encoded) > self._max_bytes:
            self._closed.append((partition, items))
            items, size = [], 0
        items.append(encoded)
        self._open[partition] = (items, size + len(encoded) + 1)

    def drain(self) -> Iterator[tuple[int, bytes]]:
        """Every queued message as (partition, value); the batcher is empty afterwards."""
        closed = self._closed + [(p, items) for p, (items, _) in sorted(self._open.items())]
        self._open, self._closed = {}, []
        head = orjson.dumps(self._head)[:-1]  # the object without its closing brace
        for partition, items in closed:
            yield partition, b"".join((head, b',"', self._field.encode(), b'":[',
                                       b",".join(items), b"]}"))
