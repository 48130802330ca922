"""Export the JSON Schema of every public value model into ``schemas/json/``.

Run ``wirewatch export-schemas`` after changing a model; a unit test fails while the
files on disk differ from the models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from schemas.topics import PUBLIC_TOPICS

__all__ = ["JSON_DIR", "export_schemas", "render_schemas"]

JSON_DIR = Path(__file__).parent / "json"


def render_schemas() -> dict[str, bytes]:
    """File name → JSON Schema bytes for each public topic's value model."""
    files: dict[str, bytes] = {}
    for spec in PUBLIC_TOPICS:
        schema: dict[str, Any] = spec.model.model_json_schema(mode="serialization")
        schema["$id"] = f"https://wirewatch.dev/schemas/{spec.name}.json"
        schema["x-topic"] = {"name": spec.name, "key": spec.key}
        files[f"{spec.name}.json"] = orjson.dumps(
            schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        ) + b"\n"
    return files


def export_schemas(directory: Path = JSON_DIR) -> list[Path]:
    """Write the schemas; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render_schemas().items():
        path = directory / name
        path.write_bytes(content)
        written.append(path)
    return written
