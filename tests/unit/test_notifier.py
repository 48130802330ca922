from datetime import UTC, datetime

import httpx
import orjson
import pytest
from pydantic import SecretStr

from schemas.article_classified import ClassifiedArticle, TopicTag
from services.notifier.channels import (
    DeliveryError,
    SlackChannel,
    render_email,
    render_slack,
)
from services.notifier.deliveries import PendingSlot, PendingStory, decide, new_slots
from services.notifier.index import SubscriptionIndex
from services.notifier.matching import canonical_tokens
from services.notifier.subscriptions import SubscriptionError, match, parse_subscriptions


def article(title: str, body: str, topics=(), source="Wire A") -> ClassifiedArticle:
    return ClassifiedArticle(
        id="a1", url="https://a.example/1", source=source, title=title, body=body,
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC), story_id="a1",
        topics=[TopicTag(id=t, score=0.9, evidence=[t]) for t in topics], classifier="test",
    )


def sub(rules: dict, channels: dict | None = None):
    data = {"subscriptions": [{"name": "s", "channels": channels or {"email": "a@b.org"},
                               "rules": rules}]}
    return parse_subscriptions(data, "test.yaml")[0]


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("Kyiv", "Drones over Kiev again"),
        ("Kiev", "Air raid in Kyiv"),
        ("Zelensky", "President Zelenskyy said"),
        ("Zelenskyy", "Zelenskiy spoke"),
        ("Kharkiv", "Shelling in Kharkov"),
        ("Zaporizhzhia", "the Zaporozhye plant"),
        ("Odesa", "port of Odessa"),
        ("Mykolaiv", "near Nikolaev"),
        ("kyiv", "KYÏV"),
        ("Dnipro", "in Dnipropetrovsk region"),
    ],
)
def test_name_spellings_match(keyword, text):
    assert match(sub({"keywords": [keyword]}), article("", text)).matched


def test_whole_words_only():
    assert not match(sub({"keywords": ["Kyiv"]}), article("", "Kyivstar outage")).matched
    assert not match(sub({"keywords": ["war"]}), article("", "a warning")).matched


def test_phrases_all_any_and_exclusions():
    s = sub({"keywords": 'Kyiv "air defence"', "match": "all"})
    assert match(s, article("", "Cold air over Kiev, defence lines held")).matched is False
    assert match(s, article("", "Kiev air defence shot down drones")).matched
    s_any = sub({"keywords": ["Odesa", '"grain deal"'], "exclude": ["football"]})
    assert match(s_any, article("", "Odessa port")).matched
    assert not match(s_any, article("", "Odessa football club")).matched


def test_topics_and_sources_must_hold_too():
    s = sub({"keywords": ["Kyiv"], "topics": ["strikes"], "sources": ["Wire A"]})
    assert not match(s, article("", "Kyiv", topics=["diplomacy"])).matched
    assert not match(s, article("", "Kyiv", topics=["strikes"], source="Other")).matched
    result = match(s, article("", "Kyiv", topics=["strikes", "energy"]))
    assert result.matched
    assert result.reasons == ("source: Wire A", "topics: strikes", "keywords: Kyiv")


def test_canonical_tokens_fold_accents_and_case():
    assert canonical_tokens("Zelenskyy’s KIEV café") == ["zelensky", "s", "kyiv", "cafe"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "x", "channels": {}, "rules": {"keywords": ["a"]}}, "slack or an email"),
        ({"name": "x", "channels": {"email": "nope"}, "rules": {"keywords": ["a"]}},
         "not an email address"),
        ({"name": "x", "channels": {"slack": "ftp://x"}, "rules": {"keywords": ["a"]}},
         "incoming-webhook URL"),
        ({"name": "x", "channels": {"email": "a@b.org"}, "rules": {}}, "at least one of"),
        ({"name": "x", "channels": {"email": "a@b.org"}, "rules": {"match": "most",
                                                                    "keywords": ["a"]}},
         "rules.match"),
    ],
)
def test_bad_subscriptions_name_the_entry(entry, message):
    with pytest.raises(SubscriptionError, match=message) as info:
        parse_subscriptions({"subscriptions": [entry]}, "subs.yaml")
    assert "subs.yaml: subscriptions.0(x)" in str(info.value)


def test_webhook_is_secret():
    s = sub({"keywords": ["a"]}, {"slack": "https://hooks.example/T/B/secret"})
    assert "secret" not in repr(s) and "secret" not in str(s)


def test_slack_block_kit_and_email_parts():
    a = article("Strike <on> port & city", "Body text", topics=["strikes"])
    payload = render_slack(a, "desk", ["keywords: port"])
    blocks = payload["blocks"]
    assert blocks[0]["type"] == "header"
    assert "&lt;on&gt; port &amp; city" in blocks[1]["text"]["text"]
    message = render_email(a, "desk", ["keywords: port"], "ww@localhost", "to@example.org")
    assert message["Subject"] == "Strike <on> port & city"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Strike <on> port & city" in plain
    assert "Strike &lt;on&gt; port &amp; city" in html and "<on>" not in html


def test_email_subject_is_one_line_even_when_the_headline_is_not():
    for title, body in (("Strike on\nthe port", "x"), ("", "First line\n\nsecond line")):
        message = render_email(article(title, body), "d", [], "ww@localhost", "to@example.org")
        assert "\n" not in message["Subject"] and message.as_bytes()


@pytest.mark.parametrize(("status", "headers", "retryable", "after"), [
    (429, {"Retry-After": "7"}, True, 7.0),
    (503, {"Retry-After": "Tue, 06 Jan 2099 12:00:00 GMT"}, True, None),
    (500, {}, True, None),
    (404, {}, False, None),
    (400, {}, False, None),
])
async def test_slack_errors_say_whether_to_try_again_and_hide_the_url(status, headers,
                                                                     retryable, after):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, text="no_service")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(DeliveryError) as info:
            await SlackChannel(client).send(SecretStr("https://h.example/very-secret"),
                                            {"text": "t"})
    assert info.value.retryable is retryable and "secret" not in str(info.value)
    assert str(info.value) == f"slack: HTTP {status} no_service"
    if after is not None:
        assert info.value.retry_after == after
    elif "Retry-After" in headers:
        assert info.value.retry_after is not None and info.value.retry_after > 1e6


async def test_a_hanging_webhook_is_a_retryable_timeout():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(DeliveryError, match="timed out") as info:
            await SlackChannel(client).send(SecretStr("https://h.example/x"), {"text": "t"})
    assert info.value.retryable


def _slot(attempts: int, first_at: float = 1000.0) -> PendingSlot:
    return PendingSlot("desk", "slack", ["keywords: port"], first_at, first_at, attempts)


def _decide(slot: PendingSlot, error: str | None = "slack: HTTP 503", *, retryable=True,
            retry_after=None, now=1000.0, retry_for=86_400.0):
    return decide(slot, error, retryable=retryable, retry_after=retry_after, now=now,
                  retry_for=retry_for, backoff_base=1.0, backoff_max=600.0)


def test_delivery_decisions():
    assert _decide(_slot(1), None).outcome == "delivered"
    permanent = _decide(_slot(1), "slack: HTTP 404", retryable=False)
    assert (permanent.outcome, permanent.error) == ("failed", "slack: HTTP 404")
    waits = [_decide(_slot(n)).due_at - 1000.0 for n in (1, 2, 3, 4, 12)]
    for wait, expected in zip(waits, (1, 2, 4, 8, 600), strict=True):
        assert expected * 0.8 <= wait <= expected * 1.2  # exponential, jittered, capped
    assert _decide(_slot(1), retry_after=30.0).due_at == 1030.0  # the server's wish
    assert _decide(_slot(1), retry_after=9999.0).due_at == 1600.0  # capped by backoff_max


def test_retries_stop_after_the_retry_window():
    day = 86_400.0
    late = _decide(_slot(40, first_at=0.0), now=day - 100)
    assert late.outcome == "failed" and "still failing after 40 attempts" in late.error
    assert _decide(_slot(40, first_at=0.0), now=day - 1000).outcome == "retry"


def test_new_slots_skip_settled_and_pending_ones_unless_replayed():
    subs = parse_subscriptions({"subscriptions": [
        {"name": "desk", "channels": {"slack": "https://h.example/x", "email": "a@b.org"},
         "rules": {"keywords": ["port"]}},
        {"name": "other", "channels": {"email": "c@d.org"}, "rules": {"keywords": ["zzz"]}},
    ]}, "t.yaml")
    index = SubscriptionIndex(subs)
    a = article("Port hit", "Drones hit the port.")
    fresh, known = new_slots(a, index, {}, [], now=5.0)
    assert [(s.key, s.due_at, s.reasons) for s in fresh] == [
        ("desk/slack", 5.0, ["keywords: port"]), ("desk/email", 5.0, ["keywords: port"])]
    assert known == []
    fresh, known = new_slots(a, index, {"desk/slack": "delivered"}, [], 5.0)
    assert [s.key for s in fresh] == ["desk/email"] and known == ["desk/slack"]
    assert new_slots(a, index, {"desk/slack": "failed"}, ["desk/email"], 5.0) == (
        [], ["desk/slack", "desk/email"])
    replayed, known = new_slots(a, index, {"desk/slack": "failed", "desk/email": "delivered"},
                                [], 5.0, replay=True)
    assert [s.key for s in replayed] == ["desk/slack"] and known == ["desk/email"]


def test_a_pending_story_round_trips():
    entry = PendingStory(article("T", "B", topics=["strikes"]), "articles.classified", 1, 7,
                         {"desk/slack": _slot(2)})
    assert PendingStory.from_json(orjson.loads(orjson.dumps(entry.to_json()))) == entry


def _texts(payload: dict) -> list[str]:
    """Every text of a Block Kit payload, with the limit Slack documents for it."""
    header, section, context = payload["blocks"]
    return [header["text"]["text"], section["text"]["text"],
            *(f["text"] for f in section["fields"]), context["elements"][0]["text"]]


def test_slack_text_from_a_feed_cannot_mention_link_or_break_the_message():
    a = article("Breaking <!channel> see <https://evil.example|this> & <@U0123>", "Body")
    a = a.model_copy(update={"url": "https://e.org/a?x=1|<!here>"})
    payload = render_slack(a, "desk", ["keywords: <!everyone>"])
    _, section, *_, context = _texts(payload)
    assert "<!" not in section + context and "<@" not in section
    assert "<https://evil" not in section
    # The one link is the article's, its "|" and ">" percent-encoded.
    assert section.startswith("*<https://e.org/a?x=1%7C%3C!here%3E|Breaking &lt;!channel&gt;")
    assert "&lt;!everyone&gt;" in context


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,<script>x</script>",
                                 "JAVASCRIPT:alert(1)", "ftp://e.org/x", "//e.org/x"])
def test_only_http_links_reach_slack_and_email(url):
    a = article("Headline", "Body").model_copy(update={"url": url})
    section = _texts(render_slack(a, "d", []))[1]
    assert section == "*Headline*"
    message = render_email(a, "d", [], "ww@localhost", "to@example.org")
    html = message.get_body(("html",)).get_content()
    assert "href" not in html and "<h2>Headline</h2>" in html
    assert "Link: (not an http(s) link" in message.get_body(("plain",)).get_content()


def test_slack_texts_are_cut_to_the_documented_limits():
    a = article("Headline " + "& " * 5000, "Body", source="<Wire> " * 600)
    payload = render_slack(a, "desk", ["keywords: " + "x" * 5000])
    header, section, source, _, context = _texts(payload)
    assert len(header) <= 150 and len(section) <= 3000
    assert len(source) <= 2000 and len(context) <= 3000 and len(payload["text"]) <= 3000
    assert header.endswith("…") and section.endswith("…>*") and context.endswith("…")
    assert "&amp;" in section and not section.rstrip("…>*").endswith("&am")


@pytest.mark.parametrize("webhook", ["http://hooks.example/T/B/secret", "ftp://x/secret",
                                     "https:///secret", "https://h:99999/secret"])
def test_a_webhook_must_be_https_and_is_never_shown(webhook):
    with pytest.raises(SubscriptionError, match="https incoming-webhook URL") as info:
        sub({"keywords": ["a"]}, {"slack": webhook})
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("webhook", ["http://127.0.0.1:8080/hook", "http://localhost/hook",
                                     "http://[::1]:9000/hook", "https://hooks.example/T/B/x"])
def test_plain_http_webhooks_only_on_loopback(webhook):
    assert sub({"keywords": ["a"]}, {"slack": webhook}).channels.slack is not None


def test_given_names_match_as_written_unless_the_rule_asks_for_variants():
    text = article("", "Volodymyr Zelenskyy met Oleksandr Syrskyi in Kiev")
    assert not match(sub({"keywords": ["Vladimir"]}), text).matched
    variants = sub({"keywords": ["Vladimir", "Kyiv"], "match": "all",
                    "given_names": "variants"})
    result = match(variants, text)
    assert result.matched and result.reasons == ("keywords: Vladimir, Kyiv",)
    assert match(sub({"keywords": ['"Alexander Syrsky"'], "given_names": "variants"}),
                 text).matched
    assert not match(sub({"keywords": ["Kyiv"], "exclude": ["Vladimir"],
                          "given_names": "variants"}), text).matched
