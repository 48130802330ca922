"""classifier settings, from ``CLASSIFIER_*`` environment variables (plus ``WIREWATCH_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.classifier.logic import DEFAULT_LEXICON
from wirewatch.settings import CommonSettings

__all__ = ["Settings"]


class Settings(CommonSettings):
    """Lexicon and decision threshold of the classifier."""

    model_config = SettingsConfigDict(env_prefix="CLASSIFIER_", frozen=True, extra="ignore")

    lexicon_path: Path = Field(default=DEFAULT_LEXICON, description="Topic lexicon YAML.")
    threshold: float = Field(default=0.5, gt=0, lt=1, description="Lowest score that tags.")
    max_topics: int = Field(default=4, ge=1, le=10)
