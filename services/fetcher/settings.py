"""fetcher settings, from ``FETCHER_*`` environment variables (plus ``WIREWATCH_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from wirewatch.settings import CommonSettings

__all__ = ["Settings"]


class Settings(CommonSettings):
    """Feeds file and the HTTP polling policy."""

    model_config = SettingsConfigDict(env_prefix="FETCHER_", frozen=True, extra="ignore")

    feeds: Path = Field(default=Path("config/feeds.yaml"), description="Feeds YAML file.")
    timeout: float = Field(default=15, gt=0, le=300, description="HTTP timeout, seconds.")
    max_concurrency: int = Field(default=8, ge=1, le=256, description="Feeds fetched at once.")
    max_backoff: float = Field(default=3600, ge=1, description="Longest wait after errors, s.")
    seen_limit: int = Field(default=5000, ge=100, description="Item ids remembered per feed.")
    max_bytes: int = Field(default=10_000_000, ge=10_000, description="Largest feed accepted.")
    user_agent: str = "wirewatch/0.1 (+https://github.com/wirewatch)"
