"""The classifier: the trained model artefact on real text, and its stage in memory."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.article_classified import TOPIC_IDS, ClassifiedArticle
from schemas.article_unique import UniqueArticle
from services.classifier.app import classify_article
from services.classifier.corpus import corpus_digest, load_examples
from services.classifier.evaluation import score_sets
from services.classifier.logic import LexiconError, classify, load_lexicon, parse_lexicon
from services.classifier.model import DEFAULT_MODEL_PATH, ModelError, TopicModel
from services.classifier.settings import Settings
from services.classifier.training import MODEL_NAME

GRID = ("Russia launched dozens of cruise missiles and drones at Ukraine overnight, striking "
        "thermal power plants and substations in the Kharkiv and Odesa regions, the energy "
        "ministry said.\n\nRolling blackouts were ordered in Kyiv as the grid operator "
        "worked to restore power to homes and hospitals.")
OFF_TOPIC = [
    ("City wins the cup", "The home side scored twice in the second half to win the cup final "
     "in front of a sold-out stadium, and the captain lifted the trophy to loud cheers."),
    ("Autumn soup", "Roast the pumpkin with garlic and thyme, then blend it with stock and a "
     "little cream. Season well and serve with toasted seeds and fresh bread."),
    ("Library extends hours", "The public library will stay open until nine on weekdays from "
     "next month, the council said, after a survey found that students wanted more evening "
     "study space."),
]


@pytest.fixture(scope="module")
def model() -> TopicModel:
    try:
        return TopicModel.load()
    except ModelError as exc:
        pytest.fail(f"{exc} (make test builds it)")


def test_the_artefact_is_trained_on_train_and_validation_only(model):
    trained_on = load_examples(splits=["train", "validation"])
    assert model.name == MODEL_NAME and model.topics == TOPIC_IDS
    assert model.meta["articles"] == len(trained_on)
    assert model.meta["corpus_digest"] == corpus_digest(trained_on)


def test_tagging_is_deterministic_on_fixed_text(model):
    first = model.tag("Missiles hit power plants", GRID)
    assert first == model.tag("Missiles hit power plants", GRID)
    assert {"strikes", "energy"} <= {t.id for t in first}
    assert all(0 <= t.score <= 1 for t in first)
    assert [t.score for t in first] == sorted((t.score for t in first), reverse=True)


@pytest.mark.parametrize(("title", "body"), OFF_TOPIC)
def test_an_article_outside_the_war_gets_no_topic(model, title, body):
    assert model.tag(title, body) == []


def test_evidence_sentences_are_taken_from_the_article(model):
    checked = 0
    for example in load_examples(splits=["test"])[:60]:
        text = example.article.title + "\n" + example.article.body
        for tag in model.tag(example.article.title, example.article.body):
            assert 1 <= len(tag.evidence) <= 3 and tag.terms
            for sentence in tag.evidence:
                assert sentence.removesuffix("…") in text
                checked += 1
    assert checked >= 50


def test_quality_on_the_test_split_of_real_articles(model):
    # The measured figures are in the README (`wirewatch eval-topics`); this floor only
    # catches a regression, a few points under them.
    test = load_examples(splits=["test"])
    predicted = [{t.id for t in model.tag(e.article.title, e.article.body)} for e in test]
    scores = score_sets([e.topics for e in test], predicted, TOPIC_IDS)
    assert scores.micro.f1 >= 0.75 and scores.macro_f1 >= 0.69
    assert abs(scores.predicted_per_article / scores.gold_per_article - 1) <= 0.2


def test_the_stage_adds_topics_and_the_model_version(model):
    article = UniqueArticle(id="a1", url="https://e.org/a1", source="Wire",
                            title="Power plants hit", body=GRID, fetched_at=datetime.now(UTC),
                            story_id="a1")
    out = classify_article(article, model, Settings(model_path=DEFAULT_MODEL_PATH))
    decoded = ClassifiedArticle.from_bytes(out.to_bytes())
    assert decoded.classifier == model.name and decoded.classifier_version == model.version
    assert decoded.story_id == "a1" and {"strikes", "energy"} <= {t.id for t in decoded.topics}
    narrow = classify_article(article, model, Settings(max_topics=1))
    assert len(narrow.topics) == 1


def test_lexicon_errors_say_where():
    # The hand-written lexicon is one of the approaches `train-topics --compare` measures.
    with pytest.raises(LexiconError, match=r"topics.x.terms: weight 'heavy'"):
        parse_lexicon({"topics": {"x": {"terms": {"heavy": ["a"]}}}})
    with pytest.raises(LexiconError, match=r"topics.x.terms.1: a term must be"):
        parse_lexicon({"topics": {"x": {"terms": {1: [None]}}}})
    tags = classify("Power plants hit", GRID, load_lexicon())
    assert {"strikes", "energy"} <= {t.id for t in tags}
