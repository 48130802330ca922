"""Static token embeddings: one fixed vector per token, averaged over a text. Pure, no Kafka.

The vectors are WordLlama's ``l2_supercat`` table (256 dimensions, MIT licence), which the
``wordllama`` wheel on PyPI ships with its tokenizer; the project reads those two files
and never calls that package's code, nor any model hub. The table was trained so that
texts of similar meaning get similar averages, which lets the topic model read a subject
said in words its labelled articles never used, at the cost of a table lookup per token:
no neural network runs.

A text's vector is the L2-normalised sum of its tokens' vectors, so an article's or a
passage's vector is built from its sentences' sums, and each sentence's share of a score
is exact (see :meth:`TokenEmbeddings.pool`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from safetensors import safe_open
from tokenizers import Tokenizer

__all__ = ["EMBEDDINGS_PACKAGE", "EmbeddingError", "TokenEmbeddings", "load_embeddings"]

EMBEDDINGS_PACKAGE = "wordllama"
_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")
_TENSOR = "embedding.weight"

# The tokenizer's thread pool spreads an article's few dozen sentences over the cores the
# broker and the other services share: in the classifier benchmark on two cores it tagged
# 429-501 articles/s at 230 MB against 488-575 at 198 MB on one thread. A user may still
# turn it on.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class EmbeddingError(ValueError):
    """The embedding table is missing or not the one a model was trained with."""


@dataclass(frozen=True)
class TokenEmbeddings:
    """A tokenizer and its table of token vectors."""

    source: str  # what the table is, for people: package, version, file
    digest: str  # sha256 of the table and the tokenizer files, for the artefact's check
    table: np.ndarray  # (tokens, dimensions), float32
    tokenizer: Tokenizer = field(repr=False, compare=False)

    @property
    def dimensions(self) -> int:
        return int(self.table.shape[1])

    def sentence_sums(self, texts: Sequence[str]) -> np.ndarray:
        """(texts, dimensions): the sum of each text's token vectors."""
        sums = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return sums
        # The fast variant skips the character offsets, which nothing here reads.
        encodings = self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        for row, encoding in enumerate(encodings):
            if encoding.ids:
                sums[row] = self.table[encoding.ids].sum(axis=0)
        return sums

    @staticmethod
    def pool(sums: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of groups of sentences: ``groups`` (rows, sentences) is 0/1 membership.

        Returns the L2-normalised rows and each row's norm before normalising (0 for a
        row without tokens, which stays all zeros). A row's score ``v · w`` is then the
        sum over its sentences of ``(sums[k] · w) / norm``.
        """
        pooled = groups @ sums.astype(np.float64)
        norms = np.linalg.norm(pooled, axis=1)
        safe = np.where(norms > 0, norms, 1.0)
        return pooled / safe[:, None], norms


def _package_files() -> tuple[Path, str]:
    # find_spec locates the package without importing it: only its data files are read.
    spec = importlib.util.find_spec(EMBEDDINGS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(f"the `{EMBEDDINGS_PACKAGE}` package is not installed; the topic "
                             "model reads its token vectors (`make setup` installs it)")
    root = Path(next(iter(spec.submodule_search_locations)))
    return root, importlib.metadata.version(EMBEDDINGS_PACKAGE)


@cache
def load_embeddings() -> TokenEmbeddings:
    """The table and tokenizer shipped in the installed ``wordllama`` wheel."""
    root, version = _package_files()
    weights, tokenizer_file = root.joinpath(*_WEIGHTS), root.joinpath(*_TOKENIZER)
    digest = hashlib.sha256()
    try:
        for path in (weights, tokenizer_file):
            digest.update(path.read_bytes())
        with safe_open(str(weights), framework="np") as handle:
            table = np.asarray(handle.get_tensor(_TENSOR), dtype=np.float32)
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise EmbeddingError(f"{root}: cannot read the token embeddings ({exc})") from exc
    if table.ndim != 2 or table.shape[0] < tokenizer.get_vocab_size():
        raise EmbeddingError(f"{weights}: table of shape {table.shape} does not cover the "
                             f"tokenizer's {tokenizer.get_vocab_size()} tokens")
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return TokenEmbeddings(f"{EMBEDDINGS_PACKAGE} {version} {_WEIGHTS[1]}",
                           digest.hexdigest(), table, tokenizer)
