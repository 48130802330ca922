"""The library a user would pick instead of dedup: datasketch's MinHashLSH, timed in-process.

Same articles, same word tokens and shingle size, same number of permutations and the
same Jaccard threshold as dedup's defaults; for each article, in arrival order: shingle,
MinHash, query the index for earlier copies, insert. No Kafka, no process boundary:
the figure dedup has to beat.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from datasketch import MinHash, MinHashLSH

from schemas.article_raw import RawArticle
from services.dedup.detector import LshParams, shingles
from wirewatch.text import words

__all__ = ["datasketch_per_s"]


def datasketch_per_s(articles: Sequence[RawArticle], params: LshParams) -> float:
    """Articles per second through shingling, MinHash and an LSH query and insert."""
    lsh = MinHashLSH(threshold=params.jaccard_threshold, num_perm=params.num_perm)
    size = params.shingle_size
    started = time.perf_counter()
    for article in articles:
        minhash = MinHash(num_perm=params.num_perm)
        minhash.update_batch(list(shingles(words(article.body), size) or {b""}))
        lsh.query(minhash)
        lsh.insert(article.id, minhash)
    return len(articles) / (time.perf_counter() - started)
