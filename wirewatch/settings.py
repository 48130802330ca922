"""Settings every service shares. Each service's own ``Settings`` subclasses this one."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CommonSettings"]


class CommonSettings(BaseSettings):
    """Kafka connection and logging, read from ``WIREWATCH_*`` whatever the service prefix.

    Subclasses set ``env_prefix`` for their own fields; the shared fields keep one name
    everywhere so that a deployment sets them once.
    """

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        min_length=1,
        validation_alias=AliasChoices("WIREWATCH_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers, comma-separated host:port.",
    )
    namespace: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        validation_alias=AliasChoices("WIREWATCH_NAMESPACE"),
        description="Prefix for every topic and consumer group; lets pipelines share a broker.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=AliasChoices("WIREWATCH_LOG_LEVEL")
    )
    data_dir: Path = Field(
        default=Path(".run/data"),
        validation_alias=AliasChoices("WIREWATCH_DATA_DIR"),
        description="Where a replica keeps local files; each replica gets its own subfolder.",
    )

    commit_interval: float = Field(
        default=1.0,
        gt=0,
        validation_alias=AliasChoices("WIREWATCH_COMMIT_INTERVAL"),
        description="Seconds between offset commits; what a crash may make a replica redo.",
    )
    commit_every: int = Field(
        default=100,
        ge=1,
        validation_alias=AliasChoices("WIREWATCH_COMMIT_EVERY"),
        description="Also commit after this many messages.",
    )
    session_timeout: float = Field(
        default=30.0,
        ge=6.0,
        le=300.0,
        validation_alias=AliasChoices("WIREWATCH_SESSION_TIMEOUT"),
        description="Seconds before the group gives a silent replica's partitions to others.",
    )

    @property
    def heartbeat_interval(self) -> float:
        """Heartbeats a third of the session timeout apart, as Kafka advises (at most 3 s)."""
        return min(3.0, self.session_timeout / 3)

    def topic(self, name: str) -> str:
        """The full name of a topic in this deployment's namespace."""
        return f"{self.namespace}{name}"

    def group(self, service: str) -> str:
        """The consumer group (and faust app id) of a service."""
        return f"{self.namespace}{service}"
