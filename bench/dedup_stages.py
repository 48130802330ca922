"""dedup's two stages in memory, without a broker: ``python -m bench.dedup_stages``.

N synthetic articles (``devrig/synthetic.py``, 30 % of them copies) go through the
fingerprint stage in batches of 100; the log messages it makes then go through a decide
stage (verdicts and story records sent nowhere) and through a second index that only
replays them, as a replica taking the log over does. Logging is off and the garbage
collector is set as in the services (``tune_gc``). Prints milliseconds per article for
each; the figures grow with N, because the index does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from devrig.synthetic import stream
from services.dedup.settings import Settings
from services.dedup.stages import DecideBatch, DecideStage, FingerprintStage, Topics
from wirewatch.streaming import tune_gc

TOPICS = Topics(log="log", unique="unique", duplicates="duplicates", stories="stories")


async def _nowhere(topic: str, value: bytes, *, key: bytes | None = None,
                   partition: int | None = None) -> None:
    return None


async def measure(count: int, batch: int = 100) -> dict[str, float]:
    """Milliseconds per article of fingerprinting, deciding and replaying."""
    params = Settings().lsh_params()
    raw = [item.article.to_bytes() for item in stream(count, seed=5, prefix="t")]
    fingerprints = FingerprintStage(params, TOPICS)
    started = time.perf_counter()
    log: list[bytes] = []
    for at in range(0, count, batch):
        sightings = fingerprints.new_batch()
        for value in raw[at:at + batch]:
            fingerprints.handle(sightings, value)
        log += sightings.drain()
    fingerprinted = time.perf_counter()
    decide = DecideStage(params, TOPICS, max_age=10.0**9, max_entries=64)
    for value in log:
        decisions = DecideBatch()
        decide.handle(decisions, value)
        await decide.finish(decisions, _nowhere)
    decided = time.perf_counter()
    replay = DecideStage(params, TOPICS, max_age=10.0**9, max_entries=64)
    for value in log:
        replay.replay(value)
    replayed = time.perf_counter()
    per = 1000.0 / count
    return {"fingerprint_ms": (fingerprinted - started) * per,
            "decide_ms": (decided - fingerprinted) * per,
            "replay_ms": (replayed - decided) * per}


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.dedup_stages",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--articles", type=int, default=6000)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    tune_gc()
    result = asyncio.run(measure(args.articles))
    print(f"{args.articles:,} articles: " + ", ".join(
        f"{name.removesuffix('_ms')} {ms:.3f} ms" for name, ms in result.items()))


if __name__ == "__main__":
    main()
