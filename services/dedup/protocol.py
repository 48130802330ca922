"""dedup's internal messages between its two stages (not part of the public contract).

The fingerprint stage sends, per batch of ``articles.raw``, one :class:`Sightings`
message to ``dedup.log`` (more when the batch's articles pass ``max_bytes``): each
article with the fingerprint the detector gave it and the detector parameters that
produced it. The log's one partition is read by the decide stage, which compares each
sighting with every earlier one in log order, so the message carries all it needs to
publish the verdict (the article itself included).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.article_raw import RawArticle
from schemas.base import Event, MessageDecodeError, describe_errors

__all__ = ["Batcher", "DetectorParams", "ItemTooLarge", "Sighting", "Sightings",
           "decode_log_message"]


class Part(BaseModel):
    """An item inside a batch message."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class DetectorParams(Part):
    """The detector parameters that produced a sighting's signature, sketch and exact key
    (:meth:`~services.dedup.detector.LshParams.tag`). Sightings made with other ones are
    not comparable."""

    shingle_size: int
    num_perm: int
    bands: int
    seed: int
    sketch_mod: int
    anchor_mod: int
    normaliser: int


class Sighting(Part):
    """An article and its fingerprint, as the fingerprint stage saw it."""

    article: RawArticle
    sig: str = Field(description="MinHash signature, base64 of little-endian uint32.")
    sketch: str = Field(description="Sampled shingle hashes in text order, base64 of "
                                    "little-endian uint32.")
    size: int = Field(ge=0, description="Distinct shingles.")
    exact: str = Field(description="Hash of the normalised text (empty for an empty text).")
    at: float = Field(description="When it was fingerprinted (Unix time); its age counts "
                                  "from then.")


class Sightings(Event):
    """A batch of sightings, all made with ``params``."""

    op: Literal["sightings"] = "sightings"
    params: DetectorParams
    sightings: list[Sighting]


def decode_log_message(raw: bytes) -> Sightings:
    """Parse a ``dedup.log`` value; MessageDecodeError with what was wrong if it is not
    a batch of sightings."""
    if not raw:
        raise MessageDecodeError("dedup.log: empty message value")
    try:
        message = Sightings.model_validate_json(raw)
    except ValidationError as exc:
        raise MessageDecodeError(f"dedup.log: {describe_errors(exc)}") from None
    if message.schema_version > message.SCHEMA_VERSION:
        raise MessageDecodeError(
            f"dedup.log: schema_version {message.schema_version} is newer than the supported "
            f"{message.SCHEMA_VERSION}")
    return message


class ItemTooLarge(ValueError):
    """One item is too large for a message of its own."""


class Batcher:
    """Sightings bound for ``dedup.log``, gathered into :class:`Sightings` messages.

    A message is closed once its sightings pass ``max_bytes`` (well under the broker's
    1 MB limit), so a batch of long articles becomes several messages. Each sighting is
    encoded once, when added; a message is those encodings joined under one head.
    """

    def __init__(self, params: DetectorParams, *, max_bytes: int = 512 * 1024) -> None:
        head = {"schema_version": Sightings.SCHEMA_VERSION, "op": "sightings",
                "params": params.model_dump(mode="json")}
        self._head = orjson.dumps(head)[:-1] + b',"sightings":['  # open for the items
        self._max_bytes = max_bytes
        self._open: tuple[list[bytes], int] = ([], 0)
        self._closed: list[list[bytes]] = []

    def add(self, item: Sighting) -> None:
        """Queue one sighting; ItemTooLarge if it alone would pass ``max_bytes``."""
        encoded = item.model_dump_json().encode()
        if len(encoded) > self._max_bytes:
            raise ItemTooLarge(f"{len(encoded):,} bytes encoded, over the {self._max_bytes:,} "
                               "bytes one message may carry")
        items, size = self._open
        if items and size + len(encoded) > self._max_bytes:
            self._closed.append(items)
            items, size = [], 0
        items.append(encoded)
        self._open = (items, size + len(encoded) + 1)

    def drain(self) -> Iterator[bytes]:
        """Every queued message; the batcher is empty afterwards."""
        closed = [*self._closed, self._open[0]] if self._open[0] else self._closed
        self._open, self._closed = ([], 0), []
        for items in closed:
            yield b"".join((self._head, b",".join(items), b"]}"))
