"""The subscription index answers exactly what matching every subscription would."""

import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime

from schemas.article_classified import TOPIC_IDS, ClassifiedArticle, TopicTag
from schemas.subscription import Subscription
from services.classifier.corpus import CORPUS_DIR
from services.notifier.index import SubscriptionIndex
from services.notifier.matching import canonical_tokens
from services.notifier.names import given_name_variants
from services.notifier.subscriptions import PreparedArticle, match
from wirewatch.text import fold

WORDS = ["Kyiv", "Kiev", "Kharkiv", "Kharkov", "grain", "port", "drone", "strike", "talks",
         "Geneva", "Zelenskyy", "Zelensky", "power", "plant", "Odesa", "Odessa", "ceasefire",
         "front", "tank", "aid", "sanctions", "oil", "refinery", "Vladimir", "Volodymyr",
         "Alexander", "Oleksandr"]
SOURCES = ["Wire A", "Wire B", "Daily C", "Radio D"]


def random_subscription(rng: random.Random, name: str) -> Subscription:
    rules: dict[str, object] = {}
    kind = rng.random()  # keywords (maybe with filters), topics only, or sources only
    if kind < 0.7:
        rules["keywords"] = [" ".join(rng.sample(WORDS, rng.choice((1, 1, 2))))
                             for _ in range(rng.randint(1, 3))]
        rules["match"] = rng.choice(["any", "all"])
    if kind < 0.9 and (kind >= 0.7 or rng.random() < 0.4):
        rules["topics"] = rng.sample(TOPIC_IDS, rng.randint(1, 2))
    if kind >= 0.9 or rng.random() < 0.2:
        rules["sources"] = rng.sample(SOURCES, rng.randint(1, 2))
    if rng.random() < 0.3:
        rules["exclude"] = [rng.choice(WORDS)]
    if rng.random() < 0.3:
        rules["given_names"] = "variants"
    return Subscription.model_validate({"name": name, "channels": {"email": "a@b.org"},
                                        "rules": rules})


def random_article(rng: random.Random, n: int) -> ClassifiedArticle:
    body = " ".join(rng.choice([*WORDS, "the", "a", "said", "on"]) for _ in range(40))
    return ClassifiedArticle(
        id=f"a{n}", url=f"https://a.example/{n}", source=rng.choice(SOURCES),
        title=" ".join(rng.sample(WORDS, 3)), body=body,
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC), story_id=f"a{n}", classifier="test",
        topics=[TopicTag(id=t, score=0.9, evidence=[t])
                for t in rng.sample(TOPIC_IDS, rng.randint(0, 2))])


def every_subscription(subs: list[Subscription], article: ClassifiedArticle):
    return [(s.name, r.reasons) for s in subs if (r := match(s, article)).matched]


def found(index: SubscriptionIndex, article: ClassifiedArticle):
    return [(s.name, r.reasons) for s, r in index.match(article)]


def compare(seed: int, articles: int, expected: Callable[..., list], got: Callable[..., list]
            ) -> int:
    """300 random subscriptions in an index against ``articles`` random articles: what
    the index finds must be what ``expected`` finds; returns how many matched."""
    rng = random.Random(seed)
    subs = [random_subscription(rng, f"s{i}") for i in range(300)]
    index = SubscriptionIndex(subs)
    matched = 0
    for n in range(articles):
        article = random_article(rng, n)
        wanted = expected(subs, article)
        assert got(index, article) == wanted
        matched += len(wanted)
    return matched


def test_the_index_matches_like_every_subscription_in_turn():
    # The rules do match, so the comparison means something.
    assert compare(5, 300, every_subscription, found) > 300


def test_adding_changing_and_removing_a_subscription():
    rng = random.Random(9)
    subs = {f"s{i}": random_subscription(rng, f"s{i}") for i in range(100)}
    index = SubscriptionIndex(subs.values())
    articles = [random_article(rng, n) for n in range(100)]
    for step in range(200):
        name = f"s{rng.randrange(130)}"
        if rng.random() < 0.3 and name in subs:
            assert index.remove(name)
            del subs[name]
        else:
            changed = random_subscription(rng, name)
            index.put(changed)
            subs[name] = changed
        if step % 20 == 0:
            ordered = list(index)
            assert {s.name for s in ordered} == set(subs) and len(index) == len(subs)
            for article in articles[:20]:
                assert sorted(found(index, article)) == sorted(
                    every_subscription(list(subs.values()), article))
    assert not index.remove("never-there")


def test_a_changed_rule_no_longer_fires_on_its_old_terms():
    def sub(keyword: str) -> Subscription:
        return Subscription.model_validate({"name": "desk", "channels": {"email": "a@b.org"},
                                            "rules": {"keywords": [keyword]}})
    article = random_article(random.Random(1), 1).model_copy(
        update={"title": "Talks in Geneva", "body": "Envoys met in Kiev."})
    index = SubscriptionIndex([sub("Geneva")])
    assert [s.name for s, _ in index.match(article)] == ["desk"]
    index.put(sub("Warsaw"))
    assert index.match(article) == []
    index.put(sub("Kyiv"))  # another spelling of a word in the article
    assert [r.reasons for _, r in index.match(article)] == [("keywords: Kyiv",)]
    index.remove("desk")
    assert index.match(article) == [] and len(index) == 0


def test_generated_subscriptions_are_valid_and_the_bench_reports_what_it_timed():
    from wirewatch_cli.bench_match import articles_of, generate_subscriptions, measure

    articles = articles_of(CORPUS_DIR)[:200]
    subs = generate_subscriptions(300, articles, seed=3)
    assert len({s.name for s in subs}) == 300
    assert {bool(s.rules.keywords) for s in subs} == {True, False}
    result = measure(subs, articles, one_by_one_budget=3000)
    index = SubscriptionIndex(subs)
    expected = sum(len(index.match(a)) for a in articles) / len(articles)
    assert result.matches_per_article == expected > 0
    assert result.articles == 200 and result.subscriptions == 300
    assert result.articles_per_s > 0 and result.one_by_one_per_s


def test_given_names_are_matched_as_written():
    def rule(keyword: str) -> Subscription:
        return Subscription.model_validate({"name": keyword, "channels": {"email": "a@b.org"},
                                            "rules": {"keywords": [keyword]}})
    article = random_article(random.Random(2), 2).model_copy(
        update={"title": "Volodymyr Zelenskyy met envoys", "body": "Talks went on in Kiev."})
    index = SubscriptionIndex([rule("Vladimir"), rule("Volodymyr"), rule("Zelensky"),
                               rule("Kyiv")])
    assert [s.name for s, _ in index.match(article)] == ["Volodymyr", "Zelensky", "Kyiv"]


def test_rules_are_filed_again_under_the_words_the_stream_shows_rare():
    rule = Subscription.model_validate({"name": "plant", "channels": {"email": "a@b.org"},
                                        "rules": {"keywords": ["government", "Enerhodar"],
                                                  "match": "all"}})
    index = SubscriptionIndex([rule])
    common = PreparedArticle.of(random_article(random.Random(1), 0).model_copy(
        update={"body": "The government met.", "topics": []}))
    # Nothing counted yet: the longest word stands for the rarest.
    assert index.candidates(common) == {"plant"}
    for _ in range(8 * 16):  # enough counted articles for a first refiling
        assert index.match(common) == []
    assert index.candidates(common) == set()
    both = random_article(random.Random(2), 1).model_copy(
        update={"body": "The government shelter in Enerhodar.", "topics": []})
    assert [s.name for s, _ in index.match(both)] == ["plant"]


def reference_match(sub: Subscription, article: ClassifiedArticle) -> bool:
    """The rule read literally: no index, no set tests, no joined text."""
    tokens = canonical_tokens(f"{article.title}\n{article.body}")
    rules = sub.rules

    def present(keyword: str) -> bool:
        words = canonical_tokens(keyword)
        forms = (itertools.product(*(given_name_variants(w) for w in words))
                 if rules.given_names == "variants" else [words])
        return any(list(form) == tokens[i:i + len(form)]
                   for form in forms for i in range(len(tokens)))

    if rules.sources and fold(article.source) not in {fold(s) for s in rules.sources}:
        return False
    if rules.topics and not {t.id for t in article.topics} & set(rules.topics):
        return False
    if any(present(k) for k in rules.exclude):
        return False
    if not rules.keywords:
        return True
    test = all if rules.match == "all" else any
    return test(present(k) for k in rules.keywords)


def test_the_index_agrees_with_the_rules_read_literally():
    assert compare(21, 200, lambda subs, article: [s.name for s in subs
                                                   if reference_match(s, article)],
                   lambda index, article: [s.name for s, _ in index.match(article)]) > 200
