"""Training and the model artefact on a small invented corpus: pure unit tests, no broker."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from schemas.article_classified import TOPIC_IDS
from services.classifier.corpus import CorpusArticle, Example
from services.classifier.features import Featurizer
from services.classifier.model import ModelError, TopicModel
from services.classifier.training import CHOSEN, FEATURIZER, _calibration, fit_model

# One invented sentence per topic; an article is a few of them among neutral filler.
SENTENCES = {
    "strikes": "Missiles and drones struck the city overnight and air defence shot down most.",
    "energy": "The power plant lost output and the grid operator ordered rolling blackouts.",
    "diplomacy": "Envoys met in Geneva to negotiate a ceasefire and security guarantees.",
    "humanitarian": "Volunteers evacuated civilians and delivered humanitarian aid to refugees.",
}
FILLER = [
    "The weather was cold and grey for most of the week.",
    "Local markets opened as usual in the morning.",
    "The report was published on the city council website.",
    "Residents gathered in the main square in the afternoon.",
]


def _article(i: int, topics: list[str], rng: random.Random) -> Example:
    paragraphs = [SENTENCES[t] + " " + rng.choice(FILLER) for t in topics]
    paragraphs += [" ".join(rng.sample(FILLER, 2)) for _ in range(rng.randint(1, 2))]
    rng.shuffle(paragraphs)
    article = CorpusArticle(
        id=f"a{i}", source="invented", kind="test", title="", body="\n\n".join(paragraphs),
        url="", date="2024-01-01", licence="test fixture", repository="none/none",
        commit="0" * 40, path="-", story=f"s{i}", split="train")
    return Example(article, frozenset(topics))


def corpus(n: int = 160, seed: int = 7) -> list[Example]:
    rng = random.Random(seed)
    topics = sorted(SENTENCES)
    return [_article(i, rng.sample(topics, rng.randint(0, 2)), rng) for i in range(n)]


@pytest.fixture(scope="module")
def model() -> TopicModel:
    return fit_model(corpus(), CHOSEN)


def test_training_is_deterministic(model):
    again = fit_model(corpus(), CHOSEN)
    assert again.version == model.version
    assert again.tfidf.features == model.tfidf.features
    assert np.array_equal(again.coef, model.coef)
    assert np.array_equal(again.passage_coef, model.passage_coef)
    assert np.array_equal(again.calibration, model.calibration)
    assert np.array_equal(again.thresholds, model.thresholds)


def test_version_follows_the_training_data(model):
    other = fit_model(corpus(seed=8), CHOSEN)
    assert other.version != model.version and other.name == model.name


def test_the_model_learns_the_invented_topics(model):
    tags = model.tag("", SENTENCES["strikes"] + "\n\n" + SENTENCES["energy"] + " "
                     + FILLER[0])
    assert {t.id for t in tags} == {"strikes", "energy"}
    assert model.tag("", " ".join(FILLER)) == []


def test_evidence_is_sentences_of_the_article_and_its_terms(model):
    body = f"{FILLER[1]} {FILLER[2]}\n\n{FILLER[3]} {SENTENCES['diplomacy']}"
    (tag,) = model.tag("Talks", body)
    assert tag.id == "diplomacy"
    assert tag.evidence == [SENTENCES["diplomacy"]]
    features = FEATURIZER.sentence_features(SENTENCES["diplomacy"])
    assert tag.terms and all(term in features for term in tag.terms)


def test_passage_weights_learn_from_the_best_passage_of_a_labelled_article():
    """An aside that only articles about strikes carry ("zebra") raises their whole-article
    score, but it is never in the passage that makes an article about strikes, so the
    passage weights leave it out; weights fitted on every passage of a labelled article
    would count it as evidence of strikes."""
    rng = random.Random(3)
    examples = corpus(seed=3)
    aside = "A zebra escaped from the zoo and wandered the streets."
    for i, ex in enumerate(examples):
        if "strikes" in ex.topics and rng.random() < 0.6:
            article = ex.article.model_copy(update={"body": ex.article.body + "\n\n" + aside})
            examples[i] = Example(article, ex.topics)
    fitted = fit_model(examples, CHOSEN)
    zebra = fitted.tfidf.vocabulary["zebra"]
    strikes = TOPIC_IDS.index("strikes")
    assert fitted.coef[zebra, strikes] > 0
    assert fitted.passage_coef[zebra, strikes] <= 0
    missile = fitted.tfidf.vocabulary["missil"]
    assert fitted.passage_coef[missile, strikes] > 0


def test_calibration_never_lowers_a_probability_for_a_higher_score(model):
    assert (model.calibration[:, :2] >= 0).all()
    zeros = np.zeros(len(model.topics))
    grid = np.linspace(-6, 6, 25)
    along_doc = np.array([model.calibrate(zeros + g, zeros) for g in grid])
    along_best = np.array([model.calibrate(zeros, zeros + g) for g in grid])
    assert (np.diff(along_doc, axis=0) >= 0).all() and (np.diff(along_best, axis=0) >= 0).all()


def test_calibration_drops_a_score_that_points_the_wrong_way():
    rng = np.random.default_rng(1)
    y = (rng.random((400, 1)) < 0.4).astype(np.int8)
    doc = y * 2.0 + rng.normal(0, 1, (400, 1))
    best = -y * 2.0 + rng.normal(0, 1, (400, 1))  # a higher best-passage score: less likely
    (row,) = _calibration(doc, best, y, passages=True)
    assert row[0] > 0 and row[1] == 0


def test_scores_are_probabilities_and_thresholds_in_range(model):
    scores = model.score("Strikes", SENTENCES["strikes"])
    assert ((scores.probabilities >= 0) & (scores.probabilities <= 1)).all()
    assert ((model.thresholds >= 0.15) & (model.thresholds <= 0.85)).all()
    assert model.topics == TOPIC_IDS


def test_save_and_load_round_trip(model, tmp_path):
    path = tmp_path / "m" / "topics.npz"
    model.save(path)
    loaded = TopicModel.load(path)
    text = SENTENCES["humanitarian"] + "\n\n" + FILLER[0]
    assert loaded.label == model.label
    assert np.allclose(loaded.passage_coef, model.passage_coef, atol=1e-6)
    assert loaded.tag("", text) == model.tag("", text)


def test_a_missing_or_broken_artefact_says_what_to_do(tmp_path):
    with pytest.raises(ModelError, match=r"no topic model there.*wirewatch train-topics"):
        TopicModel.load(tmp_path / "none.npz")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(ModelError, match=r"broken.npz: not a topic model artefact"):
        TopicModel.load(broken)


def test_one_threshold_for_all_overrides_the_trained_ones(model):
    text = SENTENCES["strikes"]
    second = sorted(model.score("", text).probabilities)[-2]
    assert [t.id for t in model.tag("", text)] == ["strikes"]
    assert len(model.tag("", text, threshold=second * 0.99, max_topics=10)) >= 2
    assert len(model.tag("", text, threshold=second * 0.99, max_topics=1)) == 1


def test_passages_are_paragraphs_or_three_sentences_of_a_long_one():
    body = "One. Two. Three. Four. Five.\n\nSix."
    sentences, passages = Featurizer(frozenset()).parse_article("Title", body)
    assert [s.text for s in sentences] == ["Title", "One.", "Two.", "Three.", "Four.", "Five.",
                                           "Six."]
    assert [p.sentences for p in passages] == [(0,), (1, 2, 3), (4, 5), (6,)]


def test_features_drop_function_words_stem_and_pair_the_rest():
    featurizer = Featurizer(frozenset({"the", "on", "in", "were"}))
    assert featurizer.sentence_features("The strikes on the refinery in 2024") == (
        "strike", "refineri", "#", "strike refineri", "refineri #")
    assert featurizer.sentence_features("Deliveries were delivered") == (
        "deliveri", "deliv", "deliveri deliv")
    plain = Featurizer(frozenset({"the"}), stem=False)
    assert plain.sentence_features("The strikes") == ("strikes",)
    assert Featurizer.from_json(featurizer.to_json()) == featurizer
    words_only = Featurizer(frozenset({"the", "on", "in", "were"}), pairs=False)
    assert words_only.sentence_features("The strikes on the refinery in 2024") == (
        "strike", "refineri", "#")
    assert Featurizer.from_json(words_only.to_json()) == words_only
    # An artefact written before the setting existed was trained with pairs.
    older = {k: v for k, v in featurizer.to_json().items() if k != "pairs"}
    assert Featurizer.from_json(older).pairs


def test_the_model_reads_the_features_it_was_trained_on(model):
    assert model.featurizer == replace(FEATURIZER, pairs=CHOSEN.pairs)
    assert any(" " in f for f in model.tfidf.features) is CHOSEN.pairs
    other = fit_model(corpus(), replace(CHOSEN, pairs=not CHOSEN.pairs))
    assert any(" " in f for f in other.tfidf.features) is not CHOSEN.pairs
    assert other.version != model.version


def test_each_source_is_measured_by_a_model_that_never_saw_it(monkeypatch):
    from services.classifier import experiments

    examples = [Example(e.article.model_copy(update={"source": "north" if i % 3 else "south"}),
                        e.topics) for i, e in enumerate(corpus(120))]
    examples.append(Example(examples[0].article.model_copy(update={"id": "x", "source": "tiny"}),
                            frozenset()))
    trained_on: list[set[str]] = []
    real = experiments.predict_probabilities

    def spy(train, parsed_train, parsed_other, approach):
        trained_on.append({e.article.source for e in train})
        return real(train, parsed_train, parsed_other, approach)

    monkeypatch.setattr(experiments, "predict_probabilities", spy)
    result = experiments.by_source(examples, CHOSEN, min_articles=30)
    assert [(source, held) for source, held, _ in result] == [("north", 80), ("south", 40)]
    assert trained_on == [{"south", "tiny"}, {"north", "tiny"}]
    # The invented topics are written the same way in both sources: both read them.
    assert all(scores.micro.f1 > 0.8 for _, _, scores in result)


def test_compare_reports_but_trains_the_projects_choice(monkeypatch, tmp_path, capsys):
    # A pick by one validation split must not replace the model `make` builds.
    from services.classifier import corpus as corpus_module
    from services.classifier import experiments
    from services.classifier.training import APPROACHES
    from wirewatch_cli.main import main

    other = replace(APPROACHES["tfidf-lr"], c=32.0)
    assert other != CHOSEN
    monkeypatch.setattr(experiments, "compare_approaches", lambda directory: other)
    monkeypatch.setattr(corpus_module, "load_examples", lambda directory, splits: corpus())
    out = tmp_path / "topics.npz"
    assert main(["train-topics", "--compare", "--out", str(out)]) == 0
    trained = TopicModel.load(out)
    assert (trained.meta["approach"], trained.meta["c"]) == (CHOSEN.name, CHOSEN.c)
    assert f"best on validation alone is {other.name}" in capsys.readouterr().err
