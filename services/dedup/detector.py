"""The near-duplicate detector: normalise, shingle, sign, compare. Pure functions, no Kafka.

A body (the headline is left out: copies often retitle a story) is cleaned of
boilerplate lines, datelines and bylines, folded to canonical word tokens and cut into
word shingles, each hashed to 32 bits (:func:`shingle_hashes`: stable across processes,
unlike ``hash()``); from those hashes come:

* a MinHash **signature**, cut into LSH **bands** (texts with a high Jaccard similarity
  share a band), plus a hash of the exact text;
* a **sketch**: the hashes that are 0 modulo ``sketch_mod``, in text order. It is a
  uniform sample of the shingles chosen by content, so two texts sample the same shingles
  of the text they share: the sketches estimate Jaccard and containment, and show *where*
  the shared text lies;
* **anchors**: the sketch values that are 0 modulo ``anchor_mod``, each a key. A short
  article republished inside a long newsletter shares all its anchors with the newsletter
  although the two have too few shingles in common for any band to meet.

A text's **keys** (:func:`index_keys`) are its exact text, each band and each anchor: two
texts that share none are never compared. How texts are stored, ordered and compared is
the protocol's business (:mod:`services.dedup.index`); this module only says what a
text's keys are and whether two texts are copies.
"""

from __future__ import annotations

import base64
import bisect
import functools
import hashlib
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from datasketch import MinHash

from wirewatch.text import fold

__all__ = [
    "NORMALISER_VERSION",
    "Comparable",
    "Fingerprint",
    "Key",
    "LshParams",
    "Similarity",
    "canonical_tokens",
    "clean_text",
    "compare",
    "copies",
    "copy_score",
    "fingerprint",
    "index_keys",
    "is_copy",
    "shingle_hashes",
    "shingles",
]

# Bumped whenever clean_text, canonical_tokens or shingle_hashes change what a text
# becomes: signatures made before and after such a change are not comparable.
NORMALISER_VERSION = 2
_MAX_SKETCH = 4096  # sketch values kept (a text of about 16,000 words at sketch_mod 4)


@dataclass(frozen=True)
class LshParams:
    """Shingling, signing and decision parameters. Every replica must use the same ones."""

    shingle_size: int = 5
    num_perm: int = 64
    bands: int = 16
    seed: int = 20240224
    sketch_mod: int = 4
    anchor_mod: int = 16
    jaccard_threshold: float = 0.5
    containment_threshold: float = 0.8
    # Below this share of the longer text a "contained" short text is not called a copy:
    # a one-paragraph brief quoted in a long digest is not the digest's story. Low
    # enough for a short article inside a long newsletter head and tail.
    min_size_ratio: float = 0.1
    # Unshared text this long (in shingles) in both texts, at the same place between shared
    # text, is a frame: two different articles inside one newsletter template, not copies.
    frame_gap: int = 24
    min_shingles: int = 8

    def __post_init__(self) -> None:
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm {self.num_perm} is not a multiple of bands {self.bands}")
        if self.anchor_mod % self.sketch_mod:
            raise ValueError(f"anchor_mod {self.anchor_mod} is not a multiple of sketch_mod "
                             f"{self.sketch_mod}")

    @property
    def rows(self) -> int:
        return self.num_perm // self.bands

    def tag(self) -> dict[str, int]:
        """What makes two fingerprints comparable: carried by every band message."""
        return {"shingle_size": self.shingle_size, "num_perm": self.num_perm,
                "bands": self.bands, "seed": self.seed, "sketch_mod": self.sketch_mod,
                "anchor_mod": self.anchor_mod, "normaliser": NORMALISER_VERSION}


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
# Spellings that outlets swap when they republish: transliterations of Ukrainian and
# Russian names, and British/American forms. Each maps to one canonical token; "per cent"
# becomes "percent" before the text is cut into words.
_VARIANTS = {
    "kiev": "kyiv", "odessa": "odesa", "kharkov": "kharkiv",
    "nikolaev": "mykolaiv", "nikolayev": "mykolaiv", "lvov": "lviv", "lugansk": "luhansk",
    "zaporozhye": "zaporizhzhia", "zaporizhia": "zaporizhzhia", "zaporozhzhia": "zaporizhzhia",
    "dnepr": "dnipro", "dnipropetrovsk": "dnipro", "chernigov": "chernihiv",
    "rovno": "rivne", "artemovsk": "bakhmut",
    "zelensky": "zelenskyy", "zelenskiy": "zelenskyy", "zelenskyi": "zelenskyy",
    "defense": "defence", "offense": "offence",
    "program": "programme", "center": "centre", "organization": "organisation",
    "organizations": "organisations",
}


_PER_CENT = re.compile(r"\bper cent\b")
_WORD = re.compile(r"\w+", re.UNICODE)  # as wirewatch.text.words
# For ASCII text the same words as _WORD, cut in C: every other character becomes a space.
_NOT_WORD = str.maketrans({c: " " for c in range(128) if not (chr(c).isalnum() or c == 95)})


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


def canonical_tokens(body: str) -> list[str]:
    """The cleaned body's folded word tokens, with swapped spellings made one."""
    text = fold(clean_text(body))
    if "per cent" in text:
        text = _PER_CENT.sub("percent", text)
    tokens = text.translate(_NOT_WORD).split() if text.isascii() else _WORD.findall(text)
    if _VARIANTS.keys().isdisjoint(tokens):
        return tokens  # most texts: one pass in C instead of a lookup per token in Python
    get = _VARIANTS.get
    return [get(token, token) for token in tokens]


def shingles(tokens: Sequence[str], size: int) -> set[bytes]:
    """The word ``size``-grams of a token list as text (the whole list if it is shorter);
    the detector itself works on :func:`shingle_hashes`."""
    if len(tokens) < size:
        return {" ".join(tokens).encode()} if tokens else set()
    return {" ".join(tokens[i : i + size]).encode() for i in range(len(tokens) - size + 1)}


_SHINGLE_BASE = np.uint32(0x01000193)  # odd, so that the combination keeps every bit


def shingle_hashes(tokens: Sequence[str], size: int) -> np.ndarray:
    """One 32-bit hash per word ``size``-gram, in text order (one for the whole list if
    it is shorter). Each word is hashed once (CRC-32: stable across processes, unlike
    ``hash()``) and the n-grams combine their words' hashes in a few numpy passes, so
    nothing is joined or hashed per shingle in Python."""
    words = np.fromiter(map(zlib.crc32, map(str.encode, tokens)), dtype=np.uint32,
                        count=len(tokens))
    count = max(1, len(tokens) - size + 1)
    combined = np.zeros(count, dtype=np.uint32)
    with np.errstate(over="ignore"):
        for offset in range(min(size, len(tokens))):
            combined = combined * _SHINGLE_BASE + words[offset:offset + count]
    return _fmix32(combined)


_SCHEME = "affine32"  # datasketch's default scheme, computed here in one numpy pass


@functools.cache
def _permutations(num_perm: int, seed: int) -> tuple[Any, Any]:
    # datasketch's permutations for the seed, so that signatures equal its MinHash's.
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=_SCHEME).permutations
    return a.astype(np.uint32)[:, None], b.astype(np.uint32)[:, None]


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finalizer (as datasketch applies it before permuting); uint32
    multiplication wraps, which is the arithmetic it wants."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    mixed: np.ndarray = h ^ (h >> np.uint32(16))
    return mixed


def _signature(hashes: np.ndarray, params: LshParams) -> np.ndarray:
    """MinHash of a set of 32-bit hashes: datasketch's affine32 scheme, vectorised over
    permutations and shingles at once."""
    a, b = _permutations(params.num_perm, params.seed)
    with np.errstate(over="ignore"):
        permuted = _fmix32(hashes.astype(np.uint32))[None, :] * a + b
    signature: np.ndarray = permuted.min(axis=1)
    return signature


@dataclass(frozen=True)
class Fingerprint:
    """What the pipeline keeps of a text."""

    signature: np.ndarray  # uint32, num_perm values
    size: int  # number of distinct shingles
    sketch: np.ndarray  # uint32 shingle hashes that are 0 modulo sketch_mod, in text order
    exact: str  # hash of the normalised text; empty for a text without words

    def signature_b64(self) -> str:
        return encode_values(self.signature)

    def sketch_b64(self) -> str:
        return encode_values(self.sketch)


def encode_values(values: np.ndarray) -> str:
    """uint32 values as base64 of their little-endian bytes."""
    return base64.b64encode(values.astype("<u4").tobytes()).decode("ascii")


def decode_values(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<u4")


def fingerprint(body: str, params: LshParams) -> Fingerprint:
    """Signature, sketch and exact-text hash of an article body (the headline is not
    part of it)."""
    tokens = canonical_tokens(body)
    if not tokens:
        empty = np.zeros(0, dtype=np.uint32)
        return Fingerprint(np.zeros(params.num_perm, dtype=np.uint32), 0, empty, "")
    hashes = shingle_hashes(tokens, params.shingle_size)
    ordered = np.sort(hashes)  # np.unique, without its overhead on arrays this small
    distinct = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
    signature = _signature(distinct, params)
    sketch = hashes[hashes % params.sketch_mod == 0].astype(np.uint32)[:_MAX_SKETCH]
    exact = hashlib.blake2b(" ".join(tokens).encode(), digest_size=12).hexdigest()
    return Fingerprint(signature, len(distinct), sketch, exact)


class Similarity(NamedTuple):
    """How two texts overlap (a tuple: one is made for every pair compared)."""

    jaccard: float
    containment: float  # share of the smaller text found in the larger
    # Both texts hold long unshared runs at the same place between shared text: a common
    # frame (newsletter head and tail) around different articles.
    framed: bool = False

    @property
    def score(self) -> float:
        return max(self.jaccard, self.containment)


@dataclass(frozen=True)
class Comparable:
    """A text in the form comparisons need, built once per text (plain Python values:
    for sketches of a few hundred values they beat numpy's per-call cost)."""

    signature: np.ndarray
    rows: tuple[bytes, ...]  # the signature's bands as bytes
    sketch: tuple[int, ...]
    distinct: frozenset[int]
    anchors: tuple[int, ...]  # sorted, distinct: only ever listed as keys
    size: int

    @classmethod
    def of(cls, signature: np.ndarray, sketch: np.ndarray, size: int,
           params: LshParams) -> Comparable:
        raw, step = signature.astype("<u4").tobytes(), params.rows * 4
        values = tuple(sketch.tolist())
        return cls(signature, tuple(raw[i:i + step] for i in range(0, len(raw), step)),
                   values, frozenset(values),
                   tuple(sorted({v for v in values if v % params.anchor_mod == 0})), size)

    @classmethod
    def from_fingerprint(cls, fp: Fingerprint, params: LshParams) -> Comparable:
        return cls.of(fp.signature, fp.sketch, fp.size, params)


# The three kinds of key are told apart by type, so they never collide and a key costs
# no wrapper: the exact-text hash (str), a band (its number and rows), an anchor (int).
Key = str | tuple[int, bytes] | int


def index_keys(text: Comparable, exact: str) -> list[Key]:
    """The keys a text is found under: its exact text, each LSH band (two signatures
    share a band when its rows are equal) and each anchor. None for an empty text."""
    if text.size == 0:
        return []
    return [exact, *enumerate(text.rows), *text.anchors]


def keys_to_share(a: Comparable, b: Comparable) -> int:
    """How many keys two texts must share to be compared: two, unless either has fewer
    than three anchors (a text of a few dozen words, found inside a newsletter by its
    only anchor). Stock phrases give unrelated texts one anchor in common far more often
    than two; on the dev evaluation set two of every three pairs sharing a key shared
    only one, and none of them was a copy that the rule kept apart."""
    return 2 if min(len(a.anchors), len(b.anchors)) >= 3 else 1


def _framed(small: Sequence[int], large: Sequence[int], shared: frozenset[int],
            gap: int) -> bool:
    """Whether both texts hold unshared text at the same place, between the same shared
    text, ``gap`` sketch values long or more: one frame (a newsletter's head and tail)
    around two different articles.

    Asking it of both texts is what keeps copies apart from frames: a caption or link
    that one outlet inserted leaves the other text's shared values adjacent. The shared
    values are aligned in text order (a value found in the larger text only before the
    last aligned one is passed over), and the unshared run may cross aligned shared
    values at a cost of one each, so that phrases two formulaic articles share do not
    cut their different middles into runs too short to count."""
    is_shared = [value in shared for value in small]
    if True not in is_shared:
        return False
    # Most pairs that get here are copies: the smaller text's unshared values between its
    # first and last shared one are too few for any frame, and the alignment is skipped.
    first, end = is_shared.index(True), len(is_shared) - is_shared[::-1].index(True)
    if end - first - sum(is_shared[first:end]) < gap:
        return False
    where: dict[int, list[int]] = {}
    unshared_before = [0]  # unshared values of the larger text before each position
    for position, value in enumerate(large):
        if value in shared:
            where.setdefault(value, []).append(position)
            unshared_before.append(unshared_before[-1])
        else:
            unshared_before.append(unshared_before[-1] + 1)
    run = here = 0
    at = -1  # position in the larger text of the last aligned shared value
    for value in small:
        if value not in shared:
            here += 1
            continue
        positions = where[value]
        k = bisect.bisect_right(positions, at)
        if k == len(positions):
            continue
        there = positions[k]
        if at >= 0:
            step = min(here, unshared_before[there] - unshared_before[at + 1])
            run = max(step, run - 1 + step)
            if run >= gap:
                return True
        at, here = there, 0
    return False


def compare(a: Comparable, b: Comparable, params: LshParams) -> Similarity:
    """How much two texts share, and whether the shared part frames different texts.

    ``framed`` is looked for only when the overlap is large enough for a copy (it is
    what can still veto one): most pairs compared share little, and it is the costly part.
    """
    if a.size == 0 or b.size == 0:
        return Similarity(0.0, 0.0)
    small, large = (a, b) if (a.size, len(a.sketch)) <= (b.size, len(b.sketch)) else (b, a)
    if len(small.distinct) < 4:
        # Too few samples (a text of a few dozen words): the signature estimates better.
        jaccard = float(np.mean(small.signature == large.signature))
        intersection = jaccard * (small.size + large.size) / (1.0 + jaccard)
        return Similarity(jaccard, min(1.0, intersection / small.size))
    shared = small.distinct & large.distinct
    common = len(shared)
    jaccard = common / (len(small.distinct) + len(large.distinct) - common)
    containment = common / len(small.distinct)
    if jaccard < params.jaccard_threshold and containment < params.containment_threshold:
        return Similarity(jaccard, containment)
    framed = _framed(small.sketch, large.sketch, shared,
                     -(-params.frame_gap // params.sketch_mod))
    return Similarity(jaccard, containment, framed)


def is_copy(sim: Similarity, size_a: int, size_b: int, params: LshParams) -> bool:
    """Whether two texts with this similarity are copies of one story."""
    if min(size_a, size_b) < params.min_shingles:
        return sim.jaccard >= 0.999
    if sim.framed:
        return False
    if sim.jaccard >= params.jaccard_threshold:
        return True
    ratio = min(size_a, size_b) / max(size_a, size_b)
    return sim.containment >= params.containment_threshold and ratio >= params.min_size_ratio


def copy_score(a: Comparable, a_exact: str, b: Comparable, b_exact: str,
               params: LshParams) -> float | None:
    """How similar two texts are if they are copies (1.0 for the same normalised text,
    however short), else None."""
    if a_exact == b_exact and a.size:
        return 1.0
    sim = compare(a, b, params)
    return sim.score if is_copy(sim, a.size, b.size, params) else None


def called_copies(a: Comparable, a_exact: str, b: Comparable, b_exact: str,
                  params: LshParams) -> bool:
    """Whether dedup calls two texts copies: they share enough keys and are copies."""
    shared = set(index_keys(a, a_exact)) & set(index_keys(b, b_exact))
    if len(shared) < keys_to_share(a, b):
        return False
    return copy_score(a, a_exact, b, b_exact, params) is not None


def copies(a: Fingerprint, b: Fingerprint, params: LshParams) -> bool:
    """:func:`called_copies` of two fingerprints."""
    return called_copies(Comparable.from_fingerprint(a, params), a.exact,
                         Comparable.from_fingerprint(b, params), b.exact, params)
