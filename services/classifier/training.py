"""Training the topic model from the labelled corpus: ``wirewatch train-topics``.

Deterministic: the same corpus gives the same artefact. Folds and splits follow stories
(groups of copies), never single articles, so a copy of a training article is never used
to measure the model.

A model is fitted in three steps, all on its training articles only:

1. out-of-fold scores: five models, each fitted on four fifths of the stories, score
   the fifth they did not see;
2. from those scores, per topic, a calibration (a logistic function of the article's
   score and its best passage's score) and the threshold that gives the best F1;
3. the final linear weights, fitted on all the training articles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.linear_model import LogisticRegression

from schemas.article_classified import TOPIC_IDS
from services.classifier.corpus import Example, corpus_digest
from services.classifier.embeddings import TokenEmbeddings, load_embeddings
from services.classifier.features import (
    Featurizer,
    Passage,
    Sentence,
    TfIdf,
    document_features,
    membership,
)
from services.classifier.logic import Lexicon, classify, load_lexicon
from services.classifier.model import TopicModel

__all__ = [
    "APPROACHES",
    "CHOSEN",
    "MODEL_NAME",
    "Approach",
    "Parsed",
    "cross_validate",
    "featurizer_for",
    "fit_model",
    "label_matrix",
    "lexicon_for",
    "parse_examples",
    "predict_probabilities",
]

MODEL_NAME = "wirewatch-topics"
# scikit-learn's English stop words, plus what the tokeniser leaves of "Russia's" and the
# reporting verb every article has.
FEATURIZER = Featurizer(frozenset(ENGLISH_STOP_WORDS) | {"s", "t", "said", "says"},
                        stem=True, window=3)
FOLDS = 5
PASSAGE_ROUNDS = 2
_THRESHOLDS = np.round(np.arange(0.15, 0.855, 0.01), 2)


@dataclass(frozen=True)
class Approach:
    """One way of building the model, compared with the others on the validation split."""

    name: str
    summary: str
    c: float = 4.0  # inverse regularisation strength of the per-topic logistic regressions
    passages: bool = True  # calibrate with the best passage's score too
    lexicon: bool = False  # add the hand-written lexicon's topic scores as features
    # Passage weights of their own, learnt from the articles' labels (see _fit_passages);
    # otherwise passages are scored with the whole-article weights.
    passage_model: bool = False
    passage_c: float = 4.0
    pairs: bool = True  # word pairs as features, besides the words
    # Weight of the article's (and each passage's) average token vector beside its
    # tf-idf words; 0 for words only. The vector has unit length, as the tf-idf row has,
    # so the weight sets how much the one counts against the other under the same
    # regularisation.
    embeddings: float = 0.0


def featurizer_for(approach: Approach) -> Featurizer:
    """The features an approach reads: the project's featurizer, with or without pairs."""
    return replace(FEATURIZER, pairs=approach.pairs)


APPROACHES: dict[str, Approach] = {a.name: a for a in (
    Approach("tfidf-lr", "tf-idf words and word pairs, one logistic regression per topic "
             "on the whole article", passages=False),
    Approach("tfidf-lr-passages", "the same weights, calibrated on the article's score "
             "and its best passage's score"),
    Approach("tfidf-lexicon-lr", "tf-idf plus the hand-written lexicon's ten topic scores "
             "as features, on the whole article", passages=False, lexicon=True),
    Approach("tfidf-lr-passage-model", "whole-article weights plus passage weights of "
             "their own (learnt from the article labels: a labelled topic's best passage "
             "against every passage of articles without it), calibrated on both scores",
             passage_model=True),
    Approach("tfidf-words-passage-model", "the same with words only, no word pairs",
             passage_model=True, pairs=False),
    Approach("tfidf-words-embeddings-passage-model", "words only plus the average static "
             "token embedding (WordLlama, weight 0.5) of the article and of each passage, "
             "passage weights of their own", passage_model=True, pairs=False, embeddings=0.5),
)}

# What `wirewatch train-topics` builds (`wirewatch train-topics --compare` measures every
# approach again). Words alone tie with words and pairs on the validation split and in
# cross-validation, and read a source left out of training better: pairs learn each
# source's set phrases. The token embeddings add a little in cross-validation and more on
# a source left out, where the words an outlet uses differ from the training articles';
# with them C=32 measures a little better than 16 in both.
CHOSEN = replace(APPROACHES["tfidf-words-embeddings-passage-model"], c=32.0)


@dataclass
class Parsed:
    """An article cut into sentences and passages once, reused by every fit."""

    sentences: list[Sentence]
    passages: list[Passage]
    features: list[str]
    passage_features: list[list[str]]
    lexicon: np.ndarray | None = field(default=None)
    dense: np.ndarray | None = field(default=None)  # (dimensions,): the article's vector
    passage_dense: np.ndarray | None = field(default=None)  # (passages, dimensions)


def embeddings_for(approach: Approach) -> TokenEmbeddings | None:
    """The token embeddings an approach reads, if any."""
    return load_embeddings() if approach.embeddings else None


def parse_examples(examples: Sequence[Example], approach: Approach) -> list[Parsed]:
    """Parse every example into the features an approach reads: its words
    (:func:`featurizer_for`), the lexicon's scores and the token vectors if it uses them."""
    featurizer = featurizer_for(approach)
    lexicon = lexicon_for(approach)
    embeddings = embeddings_for(approach)
    parsed = []
    for ex in examples:
        sentences, passages = featurizer.parse_article(ex.article.title, ex.article.body)
        dense = passage_dense = None
        if embeddings is not None:
            # As TopicModel.score does: the article is all its sentences, each passage its own.
            sums = embeddings.sentence_sums([s.text for s in sentences])
            groups = np.vstack([np.ones((1, len(sentences))),
                                membership(passages, len(sentences))])
            vectors, _ = embeddings.pool(sums, groups)
            dense, passage_dense = vectors[0], vectors[1:]
        lex = None
        if lexicon is not None:
            found = {t.id: t.score for t in classify(ex.article.title, ex.article.body, lexicon,
                                                     threshold=0.001, max_topics=len(TOPIC_IDS))}
            lex = np.array([found.get(t, 0.0) for t in TOPIC_IDS])
        parsed.append(Parsed(sentences, passages, document_features(sentences),
                             [[f for i in p.sentences for f in sentences[i].features]
                              for p in passages], lex, dense, passage_dense))
    return parsed


def label_matrix(examples: Sequence[Example]) -> np.ndarray:
    """0/1 matrix, one row per example, one column per taxonomy topic."""
    return np.array([[t in ex.topics for t in TOPIC_IDS] for ex in examples], dtype=np.int8)


def _matrix(tfidf: TfIdf, bags: Sequence[Sequence[str]]) -> sparse.csr_matrix:
    rows, cols, values = [], [], []
    for r, bag in enumerate(bags):
        for c, v in tfidf.weights(bag).items():
            rows.append(r)
            cols.append(c)
            values.append(v)
    return sparse.csr_matrix((values, (rows, cols)), shape=(len(bags), len(tfidf.features)))


def _doc_design(tfidf: TfIdf, parsed: Sequence[Parsed], approach: Approach
                ) -> sparse.csr_matrix:
    """The articles' rows: tf-idf words, then the weighted token vector, then the
    lexicon's scores, as the approach has them."""
    blocks = [_matrix(tfidf, [p.features for p in parsed])]
    if approach.embeddings:
        blocks.append(sparse.csr_matrix(
            approach.embeddings * np.vstack([_present(p.dense) for p in parsed])))
    if approach.lexicon:
        blocks.append(sparse.csr_matrix(np.vstack([_present(p.lexicon) for p in parsed])))
    return blocks[0] if len(blocks) == 1 else sparse.hstack(blocks).tocsr()


def _passage_design(tfidf: TfIdf, parsed: Sequence[Parsed], approach: Approach
                    ) -> sparse.csr_matrix:
    """Every passage's row, article after article: tf-idf words, then the token vector."""
    x = _matrix(tfidf, [bag for p in parsed for bag in p.passage_features])
    if not approach.embeddings:
        return x
    vectors = approach.embeddings * np.vstack([_present(p.passage_dense) for p in parsed])
    return sparse.hstack([x, sparse.csr_matrix(vectors)]).tocsr()


def _present(array: np.ndarray | None) -> np.ndarray:
    if array is None:
        raise ValueError("the articles were parsed without the features this approach "
                         "reads; parse them with parse_examples(examples, approach)")
    return array


@dataclass
class _Linear:
    tfidf: TfIdf
    coef: np.ndarray  # (features [+ embedding dimensions] [+ lexicon topics], topics)
    intercept: np.ndarray
    approach: Approach
    dimensions: int  # embedding columns after the tf-idf features (0 without embeddings)
    passage_coef: np.ndarray | None = None  # (features [+ dimensions], topics)
    passage_intercept: np.ndarray | None = None

    def scores(self, parsed: Sequence[Parsed]) -> tuple[np.ndarray, np.ndarray]:
        """Document scores and best passage scores, (articles, topics) each."""
        doc = np.asarray(_doc_design(self.tfidf, parsed, self.approach) @ self.coef)
        doc += self.intercept
        best = doc.copy()
        if self.approach.passages:
            owner = np.repeat(np.arange(len(parsed)), [len(p.passage_features) for p in parsed])
            if len(owner):
                coef, intercept = self.passage_weights()
                per_passage = _passage_design(self.tfidf, parsed, self.approach) @ coef
                per_passage += intercept
                best = np.full_like(doc, -np.inf)
                np.maximum.at(best, owner, per_passage)
                empty = ~np.isfinite(best[:, 0])
                best[empty] = doc[empty]
        return np.asarray(doc), np.asarray(best)

    def passage_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The weights passages are scored with (tf-idf features, then embedding columns)."""
        if self.passage_coef is not None and self.passage_intercept is not None:
            return self.passage_coef, self.passage_intercept
        return self.coef[:len(self.tfidf.features) + self.dimensions], self.intercept


def _topic_lr(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, solver="liblinear", class_weight="balanced",
                              max_iter=1000, random_state=0)


def _fit_passages(tfidf: TfIdf, parsed: Sequence[Parsed], y: np.ndarray,
                  doc_coef: np.ndarray, doc_intercept: np.ndarray, approach: Approach,
                  rounds: int = PASSAGE_ROUNDS) -> tuple[np.ndarray, np.ndarray]:
    """Passage weights learnt from article labels (multiple-instance learning).

    A labelled topic is the subject of at least one passage, but nobody said which: so
    the article's best passage (by the current weights; the whole-article weights to
    start with) is taken as the positive example and its other passages are left out,
    while every passage of an article without the topic is a negative example. Each
    round refits on the passages the previous weights picked.
    """
    owner = np.repeat(np.arange(len(parsed)), [len(p.passage_features) for p in parsed])
    x = _passage_design(tfidf, parsed, approach)
    c = approach.passage_c
    coef = np.zeros((x.shape[1], y.shape[1]))
    intercept = np.zeros(y.shape[1])
    for t in range(y.shape[1]):
        labelled = y[owner, t] == 1
        if labelled.all() or not labelled.any():
            coef[:, t], intercept[t] = doc_coef[:, t], doc_intercept[t]
            continue
        scores = np.asarray(x @ doc_coef[:, t]) + doc_intercept[t]
        for _ in range(rounds):
            # The best passage of each article: the last of its rows after sorting by
            # (article, score).
            order = np.lexsort((scores, owner))
            last = np.r_[owner[order][1:] != owner[order][:-1], True]
            best = np.zeros(len(owner), dtype=bool)
            best[order[last]] = True
            chosen = np.flatnonzero(~labelled | best)
            lr = _topic_lr(c).fit(x[chosen], labelled[chosen])
            coef[:, t], intercept[t] = lr.coef_[0], lr.intercept_[0]
            scores = np.asarray(x @ coef[:, t]) + intercept[t]
    return coef, intercept


def _fit_linear(parsed: Sequence[Parsed], y: np.ndarray, approach: Approach) -> _Linear:
    tfidf = TfIdf.fit(p.features for p in parsed)
    x = _doc_design(tfidf, parsed, approach)
    dimensions = len(_present(parsed[0].dense)) if approach.embeddings and parsed else 0
    coef = np.zeros((x.shape[1], len(TOPIC_IDS)))
    intercept = np.zeros(len(TOPIC_IDS))
    for t in range(len(TOPIC_IDS)):
        if y[:, t].min() == y[:, t].max():
            intercept[t] = 10.0 if y[0, t] else -10.0  # a topic never (or always) seen
            continue
        lr = _topic_lr(approach.c).fit(x, y[:, t])
        coef[:, t] = lr.coef_[0]
        intercept[t] = lr.intercept_[0]
    linear = _Linear(tfidf, coef, intercept, approach, dimensions)
    if not approach.passage_model:
        return linear
    doc_coef, _ = linear.passage_weights()
    passage_coef, passage_intercept = _fit_passages(tfidf, parsed, y, doc_coef, intercept,
                                                    approach)
    return replace(linear, passage_coef=passage_coef, passage_intercept=passage_intercept)


def _take(parsed: Sequence[Parsed], indexes: np.ndarray) -> list[Parsed]:
    return [parsed[int(i)] for i in indexes]


def _fold_of(story: str, folds: int) -> int:
    return int.from_bytes(hashlib.sha256(f"fold:{story}".encode()).digest()[:4], "big") % folds


def _calibration(doc: np.ndarray, best: np.ndarray, y: np.ndarray,
                 passages: bool) -> np.ndarray:
    """Per topic (w_doc, w_best, bias) of a logistic function, both weights ≥ 0 so that
    a higher score never lowers the probability."""
    result = np.zeros((y.shape[1], 3))
    for t in range(y.shape[1]):
        if y[:, t].min() == y[:, t].max():
            result[t] = (0.0, 0.0, 10.0 if y[0, t] else -10.0)
            continue
        columns = [0, 1] if passages else [0]
        while True:
            x = np.column_stack([doc[:, t], best[:, t]])[:, columns]
            lr = LogisticRegression(C=100.0, solver="lbfgs", max_iter=1000)
            lr.fit(x, y[:, t])
            weights = lr.coef_[0]
            if (weights >= 0).all() or len(columns) == 1:
                break
            columns = [c for c, w in zip(columns, weights, strict=True) if w > 0] or [0]
        row = np.zeros(3)
        for c, w in zip(columns, weights, strict=True):
            row[c] = max(w, 0.0)
        row[2] = lr.intercept_[0]
        result[t] = row
    return result


def _probabilities(calibration: np.ndarray, doc: np.ndarray, best: np.ndarray) -> np.ndarray:
    z = calibration[:, 0] * doc + calibration[:, 1] * best + calibration[:, 2]
    result: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return result


def _best_thresholds(probabilities: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per topic, the middle of the thresholds whose F1 is within 0.005 of the best."""
    chosen = np.full(y.shape[1], 0.5)
    for t in range(y.shape[1]):
        positives = y[:, t].sum()
        if not positives:
            continue
        f1 = []
        for cut in _THRESHOLDS:
            predicted = probabilities[:, t] >= cut
            tp = int((predicted & (y[:, t] == 1)).sum())
            f1.append(2 * tp / (predicted.sum() + positives))
        scores = np.array(f1)
        good = _THRESHOLDS[scores >= scores.max() - 0.005]
        chosen[t] = float(np.median(good))
    return chosen


@dataclass
class _Fitted:
    linear: _Linear
    calibration: np.ndarray
    thresholds: np.ndarray
    oof_probabilities: np.ndarray  # of the training articles, from models that did not see them

    def probabilities(self, parsed: Sequence[Parsed]) -> np.ndarray:
        doc, best = self.linear.scores(parsed)
        return _probabilities(self.calibration, doc, best)


def _fit(parsed: Sequence[Parsed], y: np.ndarray, stories: Sequence[str],
         approach: Approach, folds: int = FOLDS) -> _Fitted:
    fold = np.array([_fold_of(s, folds) for s in stories])
    doc = np.zeros(y.shape, dtype=np.float64)
    best = np.zeros(y.shape, dtype=np.float64)
    for k in range(folds):
        inside, outside = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        if not len(outside):
            continue
        linear = _fit_linear(_take(parsed, inside), y[inside], approach)
        doc[outside], best[outside] = linear.scores(_take(parsed, outside))
    calibration = _calibration(doc, best, y, approach.passages)
    oof = _probabilities(calibration, doc, best)
    thresholds = _best_thresholds(oof, y)
    return _Fitted(_fit_linear(parsed, y, approach), calibration, thresholds, oof)


def predict_probabilities(
    train: Sequence[Example], parsed_train: Sequence[Parsed],
    parsed_other: Sequence[Parsed], approach: Approach,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit on ``train``; the other articles' probabilities and the per-topic thresholds."""
    fitted = _fit(parsed_train, label_matrix(train), [e.article.story for e in train], approach)
    return fitted.probabilities(parsed_other), fitted.thresholds


def cross_validate(
    examples: Sequence[Example], parsed: Sequence[Parsed], approach: Approach,
    folds: int = FOLDS, progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities and thresholds: each fold's whole fit (calibration and
    thresholds included) never saw the fold, split by story."""
    y = label_matrix(examples)
    stories = [e.article.story for e in examples]
    fold = np.array([_fold_of(s, folds) for s in stories])
    probabilities = np.zeros(y.shape)
    thresholds = np.zeros(y.shape)
    for k in range(folds):
        inside, outside = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        # Inner folds use another salt through the story ids' own hash, so the inner
        # split is not the outer one.
        fitted = _fit(_take(parsed, inside), y[inside],
                      [f"{stories[i]}#{k}" for i in inside], approach, folds)
        probabilities[outside] = fitted.probabilities(_take(parsed, outside))
        thresholds[outside] = fitted.thresholds
        if progress:
            progress(k)
    return probabilities, thresholds


def embedding_fit_predict(x: np.ndarray, y: np.ndarray, stories: Sequence[str],
                          x_other: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Dense features (sentence embeddings): per-topic logistic regressions, calibrated and
    thresholded on out-of-fold scores as the tf-idf models are; the other rows'
    probabilities and the thresholds."""
    def fit(rows: np.ndarray) -> list[LogisticRegression | None]:
        models: list[LogisticRegression | None] = []
        for t in range(y.shape[1]):
            if y[rows, t].min() == y[rows, t].max():
                models.append(None)
                continue
            lr = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
            models.append(lr.fit(x[rows], y[rows, t]))
        return models

    def decide(models: list[LogisticRegression | None], data: np.ndarray) -> np.ndarray:
        return np.column_stack([m.decision_function(data) if m is not None
                                else np.full(len(data), -10.0) for m in models])

    fold = np.array([_fold_of(s, FOLDS) for s in stories])
    oof = np.zeros(y.shape)
    for k in range(FOLDS):
        inside, outside = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        oof[outside] = decide(fit(inside), x[outside])
    calibration = _calibration(oof, oof, y, passages=False)
    thresholds = _best_thresholds(_probabilities(calibration, oof, oof), y)
    other = decide(fit(np.arange(len(y))), x_other)
    return _probabilities(calibration, other, other), thresholds


def fit_model(examples: Sequence[Example], approach: Approach,
              parsed: Sequence[Parsed] | None = None) -> TopicModel:
    """The artefact the classifier runs: fitted on ``examples`` (train and validation)."""
    if approach.lexicon:
        raise ValueError(f"{approach.name} is for comparison only: the service's model "
                         "format has no lexicon features")
    featurizer = featurizer_for(approach)
    embeddings = embeddings_for(approach)
    parsed = parsed if parsed is not None else parse_examples(examples, approach)
    y = label_matrix(examples)
    fitted = _fit(parsed, y, [e.article.story for e in examples], approach)
    digest = corpus_digest(examples)
    table = embeddings.digest if embeddings is not None else None
    recipe = f"{digest}|{approach}|{featurizer.to_json()}|{FOLDS}|{PASSAGE_ROUNDS}|{table}"
    version = hashlib.sha256(recipe.encode()).hexdigest()[:8]
    linear = fitted.linear
    n_text = len(linear.tfidf.features)
    passage_coef, passage_intercept = linear.passage_weights()
    meta = {"approach": approach.name, "summary": approach.summary, "c": approach.c,
            "passage_c": approach.passage_c if approach.passage_model else None,
            "embedding_weight": approach.embeddings,
            "corpus_digest": digest, "articles": len(examples),
            "per_topic_positives": {t: int(y[:, i].sum()) for i, t in enumerate(TOPIC_IDS)}}
    dense: dict[str, Any] = {}
    if embeddings is not None:
        # The columns were the weighted vectors, so the weight folds into the coefficients.
        dense = {"embeddings": embeddings,
                 "dense_coef": approach.embeddings * linear.coef[n_text:],
                 "passage_dense_coef": approach.embeddings * passage_coef[n_text:]}
    return TopicModel(
        name=MODEL_NAME, version=f"1.{version}", topics=TOPIC_IDS,
        tfidf=linear.tfidf, coef=linear.coef[:n_text], intercept=linear.intercept,
        passage_coef=passage_coef[:n_text], passage_intercept=passage_intercept,
        calibration=fitted.calibration, thresholds=fitted.thresholds, featurizer=featurizer,
        meta=meta, **dense,
    )


def lexicon_for(approach: Approach) -> Lexicon | None:
    """The lexicon an approach needs for its features, if any."""
    return load_lexicon() if approach.lexicon else None
