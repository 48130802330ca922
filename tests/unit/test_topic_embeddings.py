"""The token embeddings the topic model reads, and their part in its scores and evidence."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import numpy as np
import orjson
import pytest

from schemas.article_classified import TOPIC_IDS
from services.classifier import model as model_module
from services.classifier.embeddings import EmbeddingError, TokenEmbeddings, load_embeddings
from services.classifier.model import ModelError, TopicModel
from services.classifier.training import CHOSEN, fit_model
from tests.unit.test_topic_training import FILLER, SENTENCES, corpus


@pytest.fixture(scope="module")
def embeddings() -> TokenEmbeddings:
    return load_embeddings()


@pytest.fixture(scope="module")
def model() -> TopicModel:
    return fit_model(corpus(), CHOSEN)


def test_the_table_and_tokenizer_come_from_the_installed_wheel(embeddings):
    assert embeddings.source.startswith("wordllama 0.4.0.post1 ")
    assert embeddings.table.shape == (embeddings.tokenizer.get_vocab_size(), 256)
    assert embeddings.table.dtype == np.float32
    assert len(embeddings.digest) == 64
    assert load_embeddings() is embeddings  # read once per process


def test_a_text_is_the_sum_of_its_token_vectors(embeddings):
    texts = ["Drones struck a refinery.", "", "Drones struck a refinery."]
    sums = embeddings.sentence_sums(texts)
    ids = embeddings.tokenizer.encode(texts[0], add_special_tokens=False).ids
    assert np.allclose(sums[0], embeddings.table[ids].sum(axis=0))
    assert not sums[1].any() and np.array_equal(sums[0], sums[2])
    assert embeddings.sentence_sums([]).shape == (0, 256)


def test_pooled_rows_have_unit_length_and_an_empty_row_stays_zero(embeddings):
    sums = embeddings.sentence_sums(["Talks in Geneva.", "Envoys met.", ""])
    vectors, norms = embeddings.pool(sums, np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 1.0]]))
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0)
    assert np.isclose(norms[0], np.linalg.norm(sums.sum(axis=0)), rtol=1e-5)
    assert norms[1] == 0 and not vectors[1].any()


def test_a_missing_package_is_named(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EmbeddingError, match=r"`wordllama` package is not installed"):
        load_embeddings.__wrapped__()


def test_sentence_shares_add_up_to_the_document_score(model):
    """Evidence is arithmetic, not a guess: the words' and the token vectors' shares of
    all sentences add up to the article's score before calibration."""
    body = f"{SENTENCES['strikes']} {FILLER[0]}\n\n{SENTENCES['energy']}"
    scores = model.score("Overnight", body)
    assert scores.dense_shares is not None
    assert model.embeddings is not None and model.dense_coef is not None
    words = scores.sentence_counts @ (
        (scores.doc_weights[:, None] * model.coef[scores.features])
        / scores.sentence_counts.sum(axis=0)[:, None])
    total = words.sum(axis=0) + scores.dense_shares.sum(axis=0) + model.intercept
    sums = model.embeddings.sentence_sums([s.text for s in scores.sentences])
    vector = sums.sum(axis=0) / np.linalg.norm(sums.sum(axis=0))
    doc = scores.doc_weights @ model.coef[scores.features] + vector @ model.dense_coef
    assert np.allclose(total, doc + model.intercept)


@pytest.fixture(scope="module")
def words_only() -> TopicModel:
    return fit_model(corpus(), replace(CHOSEN, embeddings=0.0))


@pytest.mark.parametrize(("topic", "unseen"), [
    ("strikes", "Rockets and artillery shells hit apartment blocks; several explosions shook."),
    ("energy", "Electricity outages: the substation failed and the lights went off."),
])
def test_the_token_vectors_read_words_the_training_articles_never_used(model, words_only,
                                                                       topic, unseen):
    # None of these words is in the invented corpus, so only the token vectors see them.
    assert not set(model.featurizer.sentence_features(unseen)) & set(model.tfidf.features)
    assert words_only.embeddings is None
    t = TOPIC_IDS.index(topic)
    with_vectors = model.score("", unseen).probabilities
    without = words_only.score("", unseen).probabilities
    assert with_vectors.argmax() == t and with_vectors[t] > 2 * without[t]


def test_round_trip_keeps_the_embedding_weights(model, tmp_path):
    path = tmp_path / "topics.npz"
    model.save(path)
    loaded = TopicModel.load(path)
    assert loaded.embeddings is model.embeddings
    assert loaded.dense_coef is not None and model.dense_coef is not None
    assert np.allclose(loaded.dense_coef, model.dense_coef, atol=1e-6)
    text = SENTENCES["energy"] + " " + FILLER[1]
    assert loaded.tag("", text) == model.tag("", text)


def test_a_model_refuses_a_table_it_was_not_trained_with(model, tmp_path, monkeypatch):
    path = tmp_path / "topics.npz"
    model.save(path)
    assert model.embeddings is not None
    other = replace(model.embeddings, digest="0" * 64, source="wordllama 9.9 other")
    monkeypatch.setattr(model_module, "load_embeddings", lambda: other)
    with pytest.raises(ModelError, match=r"trained with the token embeddings 'wordllama 0\.4"
                                         r".*installed ones are 'wordllama 9\.9 other'"):
        TopicModel.load(path)

    def missing() -> TokenEmbeddings:
        raise EmbeddingError("the `wordllama` package is not installed")

    monkeypatch.setattr(model_module, "load_embeddings", missing)
    with pytest.raises(ModelError, match=r"reads token embeddings: the `wordllama` package"):
        TopicModel.load(path)


def test_a_words_only_artefact_needs_no_table(words_only, tmp_path, monkeypatch):
    path = tmp_path / "topics.npz"
    words_only.save(path)

    def missing() -> TokenEmbeddings:
        raise AssertionError("a words-only model must not read the table")

    monkeypatch.setattr(model_module, "load_embeddings", missing)
    loaded = TopicModel.load(path)
    assert loaded.embeddings is None and loaded.dense_coef is None
    assert loaded.tag("", SENTENCES["diplomacy"]) == words_only.tag("", SENTENCES["diplomacy"])


def _with_format(source, target, version: int) -> None:
    with np.load(source) as data:
        arrays = {k: data[k] for k in data.files}
    header = orjson.loads(arrays["header"].tobytes())
    header["format"] = version
    arrays["header"] = np.frombuffer(orjson.dumps(header), dtype=np.uint8)
    np.savez(target, **arrays)


def test_artefacts_of_the_format_before_embeddings_still_load(words_only, tmp_path):
    words_only.save(tmp_path / "new.npz")
    _with_format(tmp_path / "new.npz", tmp_path / "old.npz", 2)
    loaded = TopicModel.load(tmp_path / "old.npz")
    assert loaded.tag("", SENTENCES["energy"]) == words_only.tag("", SENTENCES["energy"])
    _with_format(tmp_path / "new.npz", tmp_path / "future.npz", 4)
    with pytest.raises(ModelError, match=r"artefact format 4, this code reads \(2, 3\)"):
        TopicModel.load(tmp_path / "future.npz")
