"""`wirewatch match-test` and `wirewatch subscriptions validate`."""

from datetime import UTC, datetime

import orjson

from schemas.article_classified import ClassifiedArticle, TopicTag
from wirewatch_cli.main import main

SUBSCRIPTIONS = """subscriptions:
  - name: kyiv-desk
    channels: {email: desk@example.org}
    rules: {keywords: [Kyiv, '"air defence"'], match: any}
  - name: energy
    channels: {email: energy@example.org}
    rules: {topics: [energy]}
"""


def classified(article_id: str, body: str, topics=()) -> bytes:
    return ClassifiedArticle(
        id=article_id, url=f"https://a.example/{article_id}", source="Wire A", title="",
        body=body, fetched_at=datetime(2026, 1, 1, tzinfo=UTC), story_id=article_id,
        classifier="test", topics=[TopicTag(id=t, score=0.9, evidence=[body])
                                   for t in topics]).to_bytes()


def test_match_test_prints_each_articles_matches_and_reasons(tmp_path, capsys):
    subs = tmp_path / "subs.yaml"
    subs.write_text(SUBSCRIPTIONS)
    articles = tmp_path / "articles.jsonl"
    raw = {"id": "raw-1", "url": "https://a.example/r", "source": "Wire B",
           "body": "Air defence units over Kiev shot down drones.",
           "fetched_at": "2026-01-01T00:00:00Z"}
    articles.write_bytes(b"\n".join([
        classified("a1", "Strikes on the grid left cities dark.", ["energy"]),
        orjson.dumps(raw),
        classified("a3", "Talks resumed in Geneva."),
    ]) + b"\n")
    assert main(["match-test", "--subscriptions", str(subs), "--articles", str(articles)]) == 0
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        {"id": "a1", "matches": [{"subscription": "energy", "reasons": ["topics: energy"]}]},
        {"id": "raw-1", "matches": [{"subscription": "kyiv-desk",
                                     "reasons": ["keywords: Kyiv, air defence"]}]},
        {"id": "a3", "matches": []},
    ]


def test_match_test_reports_a_bad_line_and_goes_on(tmp_path, capsys):
    subs = tmp_path / "subs.yaml"
    subs.write_text(SUBSCRIPTIONS)
    articles = tmp_path / "articles.jsonl"
    articles.write_bytes(b'{"id": "x"}\n' + classified("a1", "Kyiv at night.") + b"\n")
    assert main(["match-test", "--subscriptions", str(subs), "--articles", str(articles)]) == 1
    out = capsys.readouterr()
    assert f"{articles}:1:" in out.err and "url" in out.err
    assert orjson.loads(out.out)["id"] == "a1"


def test_validate_names_the_file_entry_and_field(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(SUBSCRIPTIONS)
    assert main(["subscriptions", "validate", str(good)]) == 0
    assert "2 valid subscription(s): kyiv-desk, energy" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(SUBSCRIPTIONS.replace("energy@example.org", "not-an-address"))
    assert main(["subscriptions", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "1(energy)" in err and "email" in err


def test_validate_resolve_checks_the_references_with_this_environment(tmp_path, capsys,
                                                                      monkeypatch):
    path = tmp_path / "subs.yaml"
    path.write_text("subscriptions:\n  - name: desk\n    channels: {slack: '${DESK_HOOK}'}\n"
                    "    rules: {keywords: [Kyiv]}\n")
    monkeypatch.delenv("DESK_HOOK", raising=False)
    assert main(["subscriptions", "validate", str(path)]) == 0
    assert "must have these environment variables: DESK_HOOK" in capsys.readouterr().out
    assert main(["subscriptions", "validate", "--resolve", str(path)]) == 2
    assert "'desk': environment variable(s) not set: DESK_HOOK" in capsys.readouterr().err
    monkeypatch.setenv("DESK_HOOK", "https://hooks.example/T/B/x")
    assert main(["subscriptions", "validate", "--resolve", str(path)]) == 0


def test_a_bad_file_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SUBSCRIPTIONS.replace("energy@example.org", "not-an-address"))
    # No broker listens here: the file is refused before any connection is tried.
    monkeypatch.setenv("WIREWATCH_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert main(["subscriptions", "import", str(bad)]) == 2
    assert "1(energy)" in capsys.readouterr().err
