"""Near-duplicate detection: pure functions, no Kafka.

A text becomes a set of word shingles (boilerplate, dateline and byline removed, headline
left out because copies often retitle a story). MinHash turns the set into a short
signature; LSH cuts the signature into bands so that similar texts share at least one band
key with high probability. Each band key is handled by one partition of the bands stage,
so two copies meet there whichever partition of ``articles.raw`` they arrived on.

For a pair of texts that share several bands, only the lowest shared band (the
*authoritative* band) reports the pair, and only to the later of the two arrivals there.
Every replica computes that band the same way from the two signatures, so a pair is
judged once and its order is never contradictory.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasketch import MinHash

from wirewatch.text import words

__all__ = [
    "EXACT_BAND",
    "BandEntry",
    "Fingerprint",
    "LshParams",
    "Match",
    "Similarity",
    "choose_original",
    "clean_text",
    "fingerprint",
    "match_in_band",
    "shingles",
    "similarity",
]

EXACT_BAND = -1  # the band of the whole normalised text: catches short exact copies


@dataclass(frozen=True)
class LshParams:
    """Shingling, MinHash and decision parameters. Every replica must use the same ones."""

    shingle_size: int = 5
    num_perm: int = 64
    bands: int = 16
    seed: int = 20240224
    jaccard_threshold: float = 0.5
    containment_threshold: float = 0.8
    # Below this share of the longer text a "contained" short text is not called a copy:
    # a three-paragraph brief inside a long digest is a different article.
    min_size_ratio: float = 0.3
    min_shingles: int = 8

    def __post_init__(self) -> None:
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm {self.num_perm} is not a multiple of bands {self.bands}")

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands


# Lines that syndication adds or removes without changing the story.
_BOILERPLATE_LINE = re.compile(
    r"""^(
        source\ link
      | advertisement
      | recommended\ stories
      | list\ of\ \d+\ items.*
      | (read|see)\ (more|also)\b.*
      | (sign\ up|subscribe)\b.*
      | .*\bnewsletter\b.{0,80}
      | share\ (this|on)\b.*
      | contact\ the\ author\b.*
      | by\ [\w.'’ -]+(\ and\ [\w.'’ -]+)?(,\ [\w .'’-]+)?
      | .*\b(file\ photo|photo\ by|license\ photo|getty\ images|ap\ photo|reuters/)\b.*
      | .*\(photo:.*\)
      | pic\.twitter\.com/\S+
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# "WASHINGTON —", "KYIV, Ukraine (AP) —", "Dec. 28 (UPI) —" at the head of a paragraph.
_DATELINE = re.compile(
    r"""^(
        [A-Z][A-Z.'’ ]{2,30}(,\ [A-Z][\w.'’ ]{1,30})?(\ \([\w.'’ ]{1,20}\))?
      | [A-Z][a-z]{2,4}\.?\ \d{1,2}(,\ \d{4})?\ \([\w.'’ ]{1,20}\)
    )\s*[—–-]{1,2}\s+""",
    re.VERBOSE,
)


def clean_text(body: str) -> str:
    """The body without boilerplate lines, datelines and bylines."""
    kept: list[str] = []
    for line in body.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if len(stripped) < 200 and _BOILERPLATE_LINE.match(stripped):
            continue
        kept.append(_DATELINE.sub("", stripped, count=1))
    return "\n".join(kept)


@dataclass(frozen=True)
class Fingerprint:
    """What the pipeline keeps of a text: its MinHash signature and band keys."""

    signature: np.ndarray  # uint32, num_perm values
    size: int  # number of distinct shingles
    band_keys: tuple[str, ...]  # index i holds band i; the exact band is last

    def signature_b64(self) -> str:
        return base64.b64encode(self.signature.astype("<u4").tobytes()).decode("ascii")

    @staticmethod
    def decode_signature(text: str) -> np.ndarray:
        return np.frombuffer(base64.b64decode(text), dtype="<u4")


def _crc(data: bytes) -> int:
    # datasketch hashes each shingle with this; a stable hash keeps replicas in agreement
    # (Python's hash() is salted per process).
    return zlib.crc32(data)


def shingles(tokens: Sequence[str], size: int) -> set[bytes]:
    """The word ``size``-grams of a token list (the whole list if it is shorter)."""
    if len(tokens) < size:
        return {" ".join(tokens).encode()} if tokens else set()
    return {" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)}


def band_keys_of(signature: np.ndarray, params: LshParams) -> list[str]:
    """The LSH band keys of a signature, ``"<band>:<hash>"``."""
    rows = params.rows
    keys = []
    for band in range(params.bands):
        chunk = signature[band * rows : (band + 1) * rows].astype("<u4").tobytes()
        keys.append(f"{band}:{hashlib.blake2b(chunk, digest_size=8).hexdigest()}")
    return keys


_SCHEME = "affine32"  # datasketch's default; named because preset permutations need it


@functools.cache
def _permutations(num_perm: int, seed: int) -> Any:
    # MinHash draws its permutations from the seed on every construction; draw them once.
    return MinHash(num_perm=num_perm, seed=seed, scheme=_SCHEME).permutations


def fingerprint(body: str, params: LshParams) -> Fingerprint:
    """Signature and band keys of an article body (the headline is not part of it)."""
    tokens = words(clean_text(body))
    found = shingles(tokens, params.shingle_size)
    minhash = MinHash(num_perm=params.num_perm, seed=params.seed, hashfunc=_crc,
                      permutations=_permutations(params.num_perm, params.seed),
                      scheme=_SCHEME)
    if found:
        minhash.update_batch(list(found))
    signature = minhash.hashvalues.astype(np.uint32)
    exact = hashlib.blake2b(" ".join(tokens).encode(), digest_size=12).hexdigest()
    keys = [*band_keys_of(signature, params), f"x:{exact}"] if found else []
    return Fingerprint(signature=signature, size=len(found), band_keys=tuple(keys))


@dataclass(frozen=True)
class Similarity:
    """Estimated overlap of two shingle sets."""

    jaccard: float
    containment: float  # share of the smaller set found in the larger

    @property
    def score(self) -> float:
        return max(self.jaccard, self.containment)


def similarity(sig_a: np.ndarray, size_a: int, sig_b: np.ndarray, size_b: int) -> Similarity:
    """Jaccard estimated from signatures, containment derived from it and the set sizes."""
    if size_a == 0 or size_b == 0:
        return Similarity(0.0, 0.0)
    jaccard = float(np.mean(sig_a == sig_b))
    # |A∩B| = J(|A|+|B|)/(1+J), so the containment of the smaller set follows from J.
    intersection = jaccard * (size_a + size_b) / (1.0 + jaccard)
    containment = min(1.0, intersection / min(size_a, size_b))
    return Similarity(jaccard, containment)


def is_copy(sim: Similarity, size_a: int, size_b: int, params: LshParams) -> bool:
    """Whether two texts with this similarity are copies of one story."""
    if min(size_a, size_b) < params.min_shingles:
        return sim.jaccard >= 0.999
    if sim.jaccard >= params.jaccard_threshold:
        return True
    ratio = min(size_a, size_b) / max(size_a, size_b)
    return sim.containment >= params.containment_threshold and ratio >= params.min_size_ratio


@dataclass
class BandEntry:
    """An article registered under one band key, in arrival order."""

    article_id: str
    signature: str  # base64 of little-endian uint32
    size: int
    exact_key: str
    seen_at: float
    story_id: str | None = None
    _decoded: np.ndarray | None = field(default=None, repr=False, compare=False)

    def decoded_signature(self) -> np.ndarray:
        """The signature as uint32 values, decoded once: entries are compared often."""
        if self._decoded is None:
            self._decoded = Fingerprint.decode_signature(self.signature)
        return self._decoded

    def to_json(self) -> dict[str, Any]:
        return {"id": self.article_id, "sig": self.signature, "size": self.size,
                "exact": self.exact_key, "at": self.seen_at, "story": self.story_id}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BandEntry:
        return cls(data["id"], data["sig"], data["size"], data["exact"], data["at"],
                   data.get("story"))


@dataclass(frozen=True)
class Match:
    """An earlier article that the new one copies."""

    article_id: str
    story_id: str | None  # None: the band has not been told the earlier article's story
    similarity: float


def _authoritative_band(a: BandEntry, sig_a: np.ndarray, b: BandEntry, sig_b: np.ndarray,
                        params: LshParams) -> int | None:
    """The lowest band the two share, the exact band first; None when they share none.

    Two signatures share a band when that band's rows are equal, which is what equal band
    keys stand for; comparing the rows spares hashing every stored entry again.
    """
    if a.exact_key == b.exact_key:
        return EXACT_BAND
    same = np.all((sig_a == sig_b).reshape(params.bands, params.rows), axis=1)
    return int(np.argmax(same)) if same.any() else None


@dataclass
class BandResult:
    """What registering an article under a band key produced."""

    entries: list[BandEntry]
    matches: list[Match] = field(default_factory=list)


def match_in_band(
    entries: list[BandEntry],
    new: BandEntry,
    band: int,
    params: LshParams,
    *,
    now: float,
    max_age: float,
    max_entries: int,
) -> BandResult:
    """Register ``new`` under a band key and report the earlier entries it copies.

    Idempotent: registering an article again reports the same earlier entries, so a
    redelivered message gives the same answer.
    """
    kept = [e for e in entries if now - e.seen_at <= max_age or e.article_id == new.article_id]
    position = next((i for i, e in enumerate(kept) if e.article_id == new.article_id), None)
    if position is None:
        earlier = kept
        kept = [*kept, new][-max_entries:]
    else:
        earlier = kept[:position]
    new_sig = new.decoded_signature()
    matches = []
    for entry in earlier:
        sig = entry.decoded_signature()
        if _authoritative_band(new, new_sig, entry, sig, params) != band:
            continue
        sim = similarity(new_sig, new.size, sig, entry.size)
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
