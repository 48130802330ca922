"""web settings, from ``WEB_*`` environment variables (plus ``WIREWATCH_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from wirewatch.settings import CommonSettings

__all__ = ["Settings"]


class Settings(CommonSettings):
    """Where the web view listens, where it keeps its history, who may see it."""

    model_config = SettingsConfigDict(env_prefix="WEB_", frozen=True, extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port to listen on.")
    db_path: Path | None = Field(
        default=None, description="The history store (SQLite); default: "
                                  "<WIREWATCH_DATA_DIR>/web/history.sqlite.")
    retention_days: float = Field(default=30, gt=0,
                                  description="How long stories are kept in the store.")
    token: SecretStr | None = Field(
        default=None, description="Access token; when unset, one is made at first start, "
                                  "kept in <WIREWATCH_DATA_DIR>/web/token and printed once.")

    def database(self) -> Path:
        return self.db_path or Path(self.data_dir) / "web" / "history.sqlite"

    def token_file(self) -> Path:
        return Path(self.data_dir) / "web" / "token"
