"""fetcher settings, from ``FETCHER_*`` environment variables (plus ``WIREWATCH_*``)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.fetcher.netguard import AddressGuard
from wirewatch.settings import CommonSettings

__all__ = ["Settings"]


class Settings(CommonSettings):
    """Feeds file, the HTTP polling policy and its limits."""

    model_config = SettingsConfigDict(env_prefix="FETCHER_", frozen=True, extra="ignore")

    feeds: Path = Field(default=Path("config/feeds.yaml"), description="Feeds YAML file.")
    timeout: float = Field(default=15, gt=0, le=300,
                           description="Deadline of a whole fetch (connect, headers, body and "
                                       "redirects), seconds.")
    max_concurrency: int = Field(default=8, ge=1, le=256, description="Feeds fetched at once.")
    max_per_host: int = Field(default=2, ge=1, le=64,
                              description="Feeds of one host fetched at once.")
    max_backoff: float = Field(default=3600, ge=1, description="Longest wait after errors, s.")
    seen_limit: int = Field(default=5000, ge=100,
                            description="Ids remembered per feed beyond those it still lists.")
    max_bytes: int = Field(default=10_000_000, ge=10_000,
                           description="Largest feed body accepted, after decompression.")
    max_item_bytes: int = Field(default=512_000, ge=10_000, le=900_000,
                                description="Largest article message; a bigger item goes to "
                                            "deadletters.")
    allow_private_networks: bool = Field(
        default=False,
        description="Fetch from loopback and private addresses too (local demos, tests).")
    allowed_networks: str = Field(
        default="",
        description="Comma-separated networks (CIDR) fetched from although not public, "
                    "e.g. an intranet feed server: 10.1.2.0/24.")
    user_agent: str = "wirewatch/0.1 (+https://github.com/wirewatch)"

    @field_validator("allowed_networks")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        for cidr in filter(None, (c.strip() for c in value.split(","))):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not a network: {exc}") from None
        return value

    def guard(self) -> AddressGuard:
        return AddressGuard.from_cidrs(
            self.allow_private_networks,
            filter(None, (c.strip() for c in self.allowed_networks.split(","))))
