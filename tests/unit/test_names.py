"""Every romanisation of a place or surname finds the others; given names and English
words are left alone."""

import json
from pathlib import Path

import pytest

from services.notifier.matching import canonical_tokens
from services.notifier.names import _EXACT, GAZETTEER, MIN_KEY, canonical_name, skeleton
from wirewatch.text import words

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("one", "other"), [
    ("Lisichansk", "Lysychansk"), ("Yelenovka", "Olenivka"), ("Kremenchug", "Kremenchuk"),
    ("Izyum", "Izium"), ("Shoygu", "Shoigu"), ("Artyomovsk", "Bakhmut"),
    ("Artemivsk", "Bakhmut"), ("Dnipropetrovsk", "Dnipro"), ("Kirovohrad", "Kropyvnytskyi"),
    ("Kirovograd", "Kropyvnytskyi"), ("Severodonetsk", "Sievierodonetsk"),
    ("Pokrovs'k", "Pokrovsk"), ("Podil’s’k", "Podilsk"), ("Zelenskiy", "Zelenskyy"),
    ("Khmelnytsky", "Khmelnytskyi"), ("Zaluzhniy", "Zaluzhnyi"), ("Lugansk", "Luhansk"),
    ("Zaporizhzhya", "Zaporizhzhia"), ("Kupyansk", "Kupiansk"), ("Hulyaipole", "Huliaipole"),
    ("Krivoy Rog", "Kryvyi Rih"), ("Chernigov", "Chernihiv"), ("Kiev", "Kyiv"),
    ("Odessa", "Odesa"), ("Nikolaev", "Mykolaiv"), ("Mar'inka", "Marinka"),
])
def test_spellings_of_one_name_are_one(one, other):
    assert canonical_tokens(one) == canonical_tokens(other)


@pytest.mark.parametrize(("one", "other"), [
    ("Vladimir", "Volodymyr"), ("Zelenska", "Zelensky"), ("Navalnaya", "Navalny"),
    ("soldier", "Soledar"), ("aggression", "Kherson"), ("multiple", "Melitopol"),
    ("Stanislav", "Ivano-Frankivsk"), ("Harrison", "Kherson"),
])
def test_different_people_and_english_words_stay_apart(one, other):
    assert canonical_tokens(one) != canonical_tokens(other)


def test_english_endings_still_split_at_the_apostrophe():
    assert canonical_tokens("Russia's war, don't") == ["russia", "s", "war", "don", "t"]


def test_no_two_names_share_a_spelling_key():
    owners: dict[str, set[str]] = {}
    for canonical, variants in GAZETTEER.items():
        for form in (canonical, *variants):
            if " " not in form and "-" not in form and len(skeleton(form)) >= MIN_KEY:
                owners.setdefault(skeleton(form), set()).add(canonical)
    assert {k: v for k, v in owners.items() if len(v) > 1} == {}


def test_no_word_of_real_articles_is_taken_for_a_name_it_is_not():
    # Every word of the real articles that the spelling key (not the list) reads as a
    # name, checked by hand: each is a spelling of that name.
    seen: dict[str, str] = {}
    for line in (ROOT / "data" / "topics" / "articles.jsonl").open(encoding="utf-8"):
        item = json.loads(line)
        for word in set(words(item["title"] + " " + item["body"])):
            name = canonical_name(word)
            if name is not None and word not in _EXACT:
                seen[word] = name
    assert seen == {
        "balakliya": "balakliia", "khmelnytsky": "khmelnytskyi",
        "kostyantynivka": "kostiantynivka", "sieverodonetsk": "sievierodonetsk",
        "svyatohirsk": "sviatohirsk", "zaporizhzhya": "zaporizhzhia",
        "zelenskyiyy": "zelensky", "zelenskky": "zelensky",
    }


def test_eval_names_scores_each_watched_spelling_on_labelled_headlines():
    from wirewatch_cli.eval_names import evaluate, spellings

    assert "pokrovs'k" in spellings("pokrovsk", ())
    titles = ["Shelling in Lisichansk", "Lysychansk holds out", "Harvest news",
              "Volodymyr Zelenskyy in Kyiv"]
    labels = [frozenset({"lysychansk"}), frozenset({"lysychansk"}), frozenset(),
              frozenset({"zelensky", "kyiv"})]
    scores, friends = evaluate(titles, labels)
    by_name = {s.name: s for s in scores}
    assert (by_name["lysychansk"].headlines, by_name["lysychansk"].worst_recall,
            by_name["lysychansk"].wrong) == (2, 1.0, 0)
    assert ("vladimir", "volodymyr", 0) in friends
    # A headline the reader did not label is a wrong find, whatever the spelling says.
    scores, _ = evaluate(titles, [frozenset({"lysychansk"}), frozenset(), frozenset(),
                                  frozenset()])
    lysychansk = {s.name: s for s in scores}["lysychansk"]
    assert lysychansk.wrong > 0 and lysychansk.headlines == 1
