import pytest

from services.classifier.evaluation import (
    evaluate,
    load_labelled,
    seed_heading_examples,
)
from services.classifier.logic import LexiconError, classify, load_lexicon, parse_lexicon

LEXICON = load_lexicon()


def topics(title: str, body: str) -> list[str]:
    return [t.id for t in classify(title, body, LEXICON)]


def test_refinery_hit_by_drones_is_strikes_and_energy():
    tags = classify("Refinery burns after drone attack",
                    "Drones struck an oil refinery overnight, starting a fire that halted fuel "
                    "production, the governor said.", LEXICON)
    assert {t.id for t in tags} == {"strikes", "energy"}
    strikes = next(t for t in tags if t.id == "strikes")
    assert 0 < strikes.score <= 1 and "drone*" in strikes.evidence[0]
    assert "struck an oil refinery" in strikes.evidence[1]


def test_a_passing_mention_does_not_tag():
    body = ("Foreign ministers met in Vienna to negotiate the text of a ceasefire and discuss "
            "security guarantees. The talks will continue next week, envoys said.\n\n"
            "One delegate arrived late after a drone alert at the airport.")
    assert topics("Talks continue in Vienna", body) == ["diplomacy"]


def test_text_without_war_vocabulary_gets_no_topic():
    assert topics("Farmers start harvest", "The sugar beet harvest began early this year.") == []


def test_lexicon_errors_say_where():
    with pytest.raises(LexiconError, match=r"topics.x.terms: weight 'heavy'"):
        parse_lexicon({"topics": {"x": {"terms": {"heavy": ["a"]}}}})
    with pytest.raises(LexiconError, match=r"topics.x.terms.1: a term must be"):
        parse_lexicon({"topics": {"x": {"terms": {1: [None]}}}})


def test_evaluation_counts_alternatives_and_misses():
    examples = seed_heading_examples(
        "Fighting\n  • Missiles hit the port.\nDiplomacy\n  • Envoys met.\n", "t")
    assert [e.labels for e in examples] == [("strikes|ground-combat",), ("diplomacy",)]
    metrics = {m.label: m for m in evaluate(examples, lambda t, b: {"strikes"})}
    assert (metrics["strikes|ground-combat"].tp, metrics["diplomacy"].fn) == (1, 1)
    assert metrics["strikes|ground-combat"].precision == 0.5


def test_hand_labelled_set_quality_floor():
    examples = load_labelled()
    metrics = evaluate(examples, lambda t, b: set(topics(t, b)))
    tp = sum(m.tp for m in metrics)
    fp = sum(m.fp for m in metrics)
    fn = sum(m.fn for m in metrics)
    assert len(examples) >= 30
    assert tp / (tp + fp) >= 0.75 and tp / (tp + fn) >= 0.85
