"""classifier settings, from ``CLASSIFIER_*`` environment variables (plus ``WIREWATCH_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.classifier.model import DEFAULT_MODEL_PATH
from wirewatch.settings import CommonSettings

__all__ = ["Settings"]


class Settings(CommonSettings):
    """The topic model and how many of its topics an article may get."""

    model_config = SettingsConfigDict(env_prefix="CLASSIFIER_", frozen=True, extra="ignore")

    model_path: Path = Field(
        default=DEFAULT_MODEL_PATH,
        description="Topic model artefact written by `wirewatch train-topics`.",
    )
    threshold: float | None = Field(
        default=None, gt=0, lt=1,
        description="One probability cut-off for every topic instead of the per-topic "
                    "thresholds chosen in training.",
    )
    max_topics: int = Field(default=4, ge=1, le=10, description="Most topics per article.")
