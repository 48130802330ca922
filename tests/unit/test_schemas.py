from datetime import UTC, datetime

import orjson
import pytest

from schemas import PUBLIC_TOPICS, MessageDecodeError, RawArticle
from schemas.export import JSON_DIR, render_schemas


def test_exported_json_schema_is_in_step_with_models():
    rendered = render_schemas()
    assert sorted(rendered) == sorted(f"{t.name}.json" for t in PUBLIC_TOPICS)
    for name, content in rendered.items():
        on_disk = (JSON_DIR / name).read_bytes()
        assert on_disk == content, f"{name} is stale: run `wirewatch export-schemas`"


def test_every_field_is_described():
    for spec in PUBLIC_TOPICS:
        schema = spec.model.model_json_schema()
        for field, prop in schema["properties"].items():
            assert prop.get("description"), f"{spec.name}: {field} has no description"


def test_minimal_raw_article_from_another_system_is_accepted():
    raw = orjson.dumps({"id": "x1", "url": "https://a.example/1", "source": "A", "title": "",
                        "body": "text", "published_at": None,
                        "fetched_at": "2026-01-01T10:00:00Z"})
    article = RawArticle.from_bytes(raw)
    assert article.fetched_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert RawArticle.from_bytes(article.to_bytes()) == article


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"id": "x", "url": "u", "source": "s", "body": "b"}', "fetched_at: Field required"),
        (b'{"id": "x", "url": "u", "source": "s", "body": "b", '
         b'"fetched_at": "2026-01-01T00:00:00"}',
         "fetched_at"),
        (b'{"schema_version": 9, "id": "x", "url": "u", "source": "s", "body": "b",'
         b' "fetched_at": "2026-01-01T00:00:00Z"}', "newer than the supported"),
    ],
)
def test_bad_messages_say_what_is_wrong(raw, expected):
    with pytest.raises(MessageDecodeError, match=expected):
        RawArticle.from_bytes(raw)
