"""``deadletters``: messages a service could not process, with the reason."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from schemas.base import Event

__all__ = ["DeadLetter"]


class DeadLetter(Event):
    """A message that could not be processed. Key on the topic: the original message's key."""

    stage: str = Field(description="Service and step that gave up, e.g. ``dedup.decode``.")
    topic: str | None = Field(
        description="Topic the message was read from (None if produced there)."
    )
    partition: int | None = Field(description="Partition it was read from.")
    offset: int | None = Field(description="Offset it was read from.")
    error: str = Field(description="What was wrong, in words.")
    payload: str = Field(
        description="The original value: UTF-8 text, or ``base64:``-prefixed when not UTF-8."
    )
    truncated: bool = Field(
        default=False,
        description="True when ``payload`` holds only the start of the original value, "
                    "which was too large to forward whole; ``error`` gives its size.",
    )
    key: str | None = Field(default=None, description="The original key, as text.")
    occurred_at: AwareDatetime = Field(description="When the service gave up.")
