"""Structured ``key=value`` logging shared by all services."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["KeyValueFormatter", "configure_logging", "fields", "logging_config"]

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def _quote(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    """``ts=… level=… service=… logger=… msg="…" key=value …`` on one line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={ts}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"service={self.service}",
            f"logger={record.name}",
            f"msg={_quote(record.getMessage())}",
        ]
        parts.extend(
            f"{key}={_quote(value)}"
            for key, value in record.__dict__.items()
            if key not in _RESERVED and not key.startswith("_")
        )
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call; ``None`` values are left out."""
    return {k: v for k, v in values.items() if v is not None}


# httpx logs every request URL at INFO; a Slack webhook URL is a secret.
_QUIET = {"httpx": "WARNING", "httpcore": "WARNING", "aiokafka": "WARNING", "faust": "WARNING",
          "mode": "WARNING", "kafka": "WARNING"}


def logging_config(service: str, level: str) -> Mapping[str, Any]:
    """A ``logging.config.dictConfig`` mapping, also accepted by faust's worker."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"kv": {"()": KeyValueFormatter, "service": service}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "kv",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {name: {"level": lvl} for name, lvl in _QUIET.items()},
    }


def configure_logging(service: str, level: str) -> None:
    """Configure the root logger for a plain-asyncio service or a CLI command."""
    import logging.config

    logging.config.dictConfig(dict(logging_config(service, level)))
