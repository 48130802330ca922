"""Base class and codec shared by every wirewatch message."""

from __future__ import annotations

from typing import Any, ClassVar, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["Event", "MessageDecodeError", "describe_errors"]


class MessageDecodeError(ValueError):
    """A message value is not valid JSON or does not match its model.

    ``str(error)`` says what was wrong and where (the JSON path of each bad field).
    """


def describe_errors(exc: ValidationError) -> str:
    """One line per problem, each with the JSON path of the bad field."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
    )


class Event(BaseModel):
    """A message on a wirewatch topic: UTF-8 JSON, versioned, validated on the way in."""

    # Extra fields are ignored rather than refused so that a producer on a newer minor
    # version never breaks an older consumer.
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=False)

    SCHEMA_VERSION: ClassVar[int] = 1

    schema_version: int = Field(
        default=1,
        ge=1,
        description=(
            "Version of this message's schema. Consumers refuse versions newer than they know."
        ),
    )

    def to_bytes(self) -> bytes:
        """Serialise to UTF-8 JSON with orjson."""
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, raw: bytes | str | None) -> Self:
        """Parse and validate a message value; raise :class:`MessageDecodeError` if it is bad."""
        return cls.from_data(cls.parse_json(raw))

    @classmethod
    def parse_json(cls, raw: bytes | str | None, what: str | None = None) -> dict[str, Any]:
        """The JSON object of a message value, not yet validated (``what`` names it in errors)."""
        name = what or cls.__name__
        if raw is None or raw in (b"", ""):
            raise MessageDecodeError(f"{name}: empty message value")
        try:
            data: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise MessageDecodeError(f"{name}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise MessageDecodeError(f"{name}: expected a JSON object, got {type(data).__name__}")
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Self:
        """Validate a parsed JSON object; raise :class:`MessageDecodeError` if it is bad."""
        try:
            event = cls.model_validate(data)
        except ValidationError as exc:
            raise MessageDecodeError(f"{cls.__name__}: {describe_errors(exc)}") from exc
        if event.schema_version > cls.SCHEMA_VERSION:
            raise MessageDecodeError(
                f"{cls.__name__}: schema_version {event.schema_version} is newer than "
                f"the supported {cls.SCHEMA_VERSION}"
            )
        return event
