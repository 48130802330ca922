"""dedup settings, from ``DEDUP_*`` environment variables (plus the shared ``WIREWATCH_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.dedup.detector import LshParams
from services.dedup.topics import LOG_RETENTION_DAYS
from wirewatch.settings import CommonSettings

__all__ = ["Settings"]


class Settings(CommonSettings):
    """Every replica of dedup must run with the same LSH parameters."""

    model_config = SettingsConfigDict(env_prefix="DEDUP_", frozen=True, extra="ignore")

    shingle_size: int = Field(default=5, ge=2, le=12, description="Words per shingle.")
    num_perm: int = Field(default=64, ge=16, le=512, description="MinHash permutations.")
    bands: int = Field(default=16, ge=2, le=256, description="LSH bands; divides num_perm.")
    jaccard_threshold: float = Field(default=0.5, gt=0, le=1)
    containment_threshold: float = Field(default=0.8, gt=0, le=1)
    min_size_ratio: float = Field(default=0.1, gt=0, le=1)
    sketch_mod: int = Field(default=4, ge=1, le=64,
                            description="One shingle in this many (by hash) is sketched.")
    anchor_mod: int = Field(default=16, ge=1, le=1024,
                            description="One shingle in this many (by hash) is an anchor key; "
                                        "a multiple of sketch_mod.")
    frame_gap: int = Field(default=24, ge=1, description="Shingles of unshared text in both "
                           "texts, at the same place between shared text, that make a frame.")
    retention_days: float = Field(
        default=14, gt=0, le=LOG_RETENTION_DAYS,
        description="How long a story can still be matched by a copy; at most the "
                    "retention of dedup.log, from which the index is rebuilt.",
    )
    max_entries_per_key: int = Field(
        default=64, ge=2, le=10_000,
        description="Latest articles kept under one index key (a key that many texts share, "
                    "such as a stock phrase's anchor, stops growing there).")
    batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Most messages a stage handles at once."
    )
    batch_wait: float = Field(
        default=0.0, ge=0, le=5,
        description="Seconds an idle stage waits after a first message for others to "
                    "share its batch; a busy stage takes what gathered while it worked.")
    sweep_interval: float = Field(
        default=600, gt=0, description="Seconds between sweeps of state older than the "
                                       "retention (indexed articles, story trails).")

    def lsh_params(self) -> LshParams:
        """The detection parameters; raises ValueError if they do not fit together."""
        return LshParams(
            shingle_size=self.shingle_size,
            num_perm=self.num_perm,
            bands=self.bands,
            jaccard_threshold=self.jaccard_threshold,
            containment_threshold=self.containment_threshold,
            min_size_ratio=self.min_size_ratio,
            sketch_mod=self.sketch_mod,
            anchor_mod=self.anchor_mod,
            frame_gap=self.frame_gap,
        )
