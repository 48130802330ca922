"""Subscriptions as records: the model, ${VAR} expansion, applying the topic's records to the
index, mutes, and the CLI's file round trip. No broker."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
import yaml

from schemas.article_classified import ClassifiedArticle
from schemas.base import MessageDecodeError
from schemas.subscription import Subscription, mask_webhook
from services.notifier.index import SubscriptionIndex
from services.notifier.live import apply_record
from services.notifier.subscriptions import SubscriptionError, parse_subscriptions, resolve
from wirewatch_cli.subscriptions import parse_duration, summary, to_yaml

HOOK = "https://hooks.example/T/B/very-secret"


def entry(name: str = "desk", keywords: list[str] | None = None, **extra: object) -> dict:
    return {"name": name, "channels": {"slack": "${DESK_HOOK}", "email": "a@b.org"},
            "rules": {"keywords": keywords or ["Kyiv"]}, **extra}


def record(data: dict) -> tuple[bytes, bytes]:
    return data["name"].encode(), orjson.dumps(data)


def article(body: str) -> ClassifiedArticle:
    return ClassifiedArticle(id="a1", url="https://a.example/1", source="Wire", title="",
                             body=body, fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
                             story_id="a1", topics=[], classifier="test")


ENV = {"DESK_HOOK": HOOK}


def test_references_stay_in_the_record_and_are_expanded_by_the_notifier():
    sub = Subscription.model_validate(entry())
    assert orjson.loads(sub.to_bytes())["channels"]["slack"] == "${DESK_HOOK}"
    assert sub.channels.references() == ["DESK_HOOK"]
    resolved = resolve(sub, ENV)
    assert resolved.channels.slack is not None
    assert resolved.channels.slack.get_secret_value() == HOOK
    assert "very-secret" not in repr(resolved)
    # Encoded for the topic, a written URL is kept whole (it is masked only in repr/logs).
    assert Subscription.from_bytes(resolved.to_bytes()) == resolved


def test_an_unset_or_bad_reference_names_the_subscription_not_the_secret():
    sub = Subscription.model_validate(entry())
    with pytest.raises(SubscriptionError, match=r"'desk'.*not set: DESK_HOOK"):
        resolve(sub, {})
    with pytest.raises(SubscriptionError, match="https incoming-webhook URL") as info:
        resolve(sub, {"DESK_HOOK": "http://hooks.example/very-secret"})
    assert "very-secret" not in str(info.value)
    bad_mail = Subscription.model_validate(entry(channels={"email": "${MAIL}"}))
    with pytest.raises(SubscriptionError, match="not an email address"):
        resolve(bad_mail, {"MAIL": "nobody"})


def test_a_file_entry_with_an_unknown_field_is_refused_with_file_entry_and_field():
    with pytest.raises(SubscriptionError) as info:
        parse_subscriptions({"subscriptions": [entry(), entry("x", muted="yes")]}, "s.yaml")
    assert "s.yaml: subscriptions.1(x).muted: unknown field" in str(info.value)
    with pytest.raises(SubscriptionError, match=r"subscriptions.0\(desk\).muted_until"):
        parse_subscriptions({"subscriptions": [entry(muted_until="next week")]}, "s.yaml")


def test_records_add_change_and_delete_subscriptions():
    index = SubscriptionIndex()
    change = apply_record(index, *record(entry()), ENV)
    assert (change.action, len(index.match(article("Drones over Kiev")))) == ("added", 1)
    change = apply_record(index, *record(entry(keywords=["Odesa"])), ENV)
    assert change.action == "changed"
    assert index.match(article("Drones over Kiev")) == []
    assert len(index.match(article("Port of Odessa"))) == 1
    assert apply_record(index, b"desk", None, ENV).action == "deleted"
    assert index.match(article("Port of Odessa")) == [] and len(index) == 0
    assert apply_record(index, b"desk", None, ENV).action == "absent"


@pytest.mark.parametrize(("key", "value", "why"), [
    (b"desk", b"{not json", "not valid JSON"),
    (b"desk", orjson.dumps(entry(keywords=["..."])), "has no words"),
    (b"other", orjson.dumps(entry()), "keyed 'other' holds subscription 'desk'"),
    (None, orjson.dumps(entry()), "needs the subscription's name as key"),
    (b"desk", orjson.dumps(entry(channels={"slack": "${UNSET_HOOK}"})), "not set: UNSET_HOOK"),
])
def test_an_unusable_record_changes_nothing_and_says_why(key, value, why):
    index = SubscriptionIndex()
    apply_record(index, *record(entry()), ENV)
    change = apply_record(index, key, value, ENV)
    assert change.action == "refused" and why in (change.error or "")
    # The working version stays: a bad edit never silences a subscription.
    assert [s.name for s, _ in index.match(article("Kyiv"))] == ["desk"]


def test_a_muted_subscription_is_silent_until_its_mute_ends():
    until = datetime(2026, 3, 1, 12, tzinfo=UTC)
    index = SubscriptionIndex()
    apply_record(index, *record(entry(muted_until=until.isoformat())), ENV)
    before, after = until.timestamp() - 1, until.timestamp() + 1
    assert index.match(article("Kyiv"), now=before) == []
    assert [s.name for s, _ in index.match(article("Kyiv"), now=after)] == ["desk"]


def test_export_reads_back_as_the_same_subscriptions():
    subs = parse_subscriptions({"subscriptions": [
        entry(owner="desk@example.org", description="the capital",
              muted_until="2026-03-01T12:00:00+00:00"),
        {"name": "energy", "channels": {"slack": HOOK},
         "rules": {"topics": ["energy"], "keywords": 'grid "power plant"', "match": "all"}},
    ]}, "s.yaml")
    text = to_yaml(subs)
    assert parse_subscriptions(yaml.safe_load(text), "export") == subs
    assert "match: any" not in text and "schema_version" not in text
    assert "given_names" not in text


def test_list_masks_webhooks_and_shows_mutes():
    sub = Subscription.model_validate({**entry(muted_until="2026-03-01T12:00:00Z"),
                                       "channels": {"slack": HOOK}})
    line = summary(sub, datetime(2026, 3, 1, tzinfo=UTC))
    assert "very-secret" not in line and "https://hooks.example/…" in line
    assert "muted until 2026-03-01T12:00:00+00:00" in line
    assert "muted" not in summary(sub, datetime(2026, 3, 2, tzinfo=UTC))
    assert mask_webhook("${DESK_HOOK}") == "${DESK_HOOK}"


def test_durations():
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("1.5d") == timedelta(hours=36)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_a_record_from_a_newer_producer_with_extra_fields_is_read():
    data = entry() | {"labels": ["x"]}
    assert Subscription.from_bytes(orjson.dumps(data)).name == "desk"
    with pytest.raises(MessageDecodeError, match="schema_version"):
        Subscription.from_bytes(orjson.dumps(data | {"schema_version": 2}))
