"""notifier settings, from ``NOTIFIER_*`` environment variables (plus ``WIREWATCH_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.notifier.channels import SmtpConfig
from wirewatch.settings import CommonSettings

__all__ = ["Settings"]


class Settings(CommonSettings):
    """SMTP server and the delivery retry policy (subscriptions are on their topic)."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", frozen=True, extra="ignore")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_sender: str = "wirewatch@localhost"
    retry_for: float = Field(default=86_400, gt=0,
                             description="How long a delivery that fails for a passing reason "
                                         "is tried again, s (from its first attempt).")
    backoff_base: float = Field(default=1, gt=0, le=60, description="First retry wait, s.")
    backoff_max: float = Field(default=600, gt=0, le=3600, description="Longest wait, s.")
    http_timeout: float = Field(default=10, gt=0, le=120,
                                description="Deadline of one Slack or SMTP attempt, s.")
    max_in_flight: int = Field(default=16, ge=1, le=256,
                               description="Deliveries attempted at once.")
    dispatch_interval: float = Field(default=0.5, gt=0, le=10,
                                     description="How often due retries are looked for, s.")

    def smtp(self) -> SmtpConfig:
        return SmtpConfig(self.smtp_host, self.smtp_port, self.smtp_sender, self.smtp_username,
                          self.smtp_password, self.smtp_starttls, self.http_timeout)
