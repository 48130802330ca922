"""The trained topic model: loading its artefact and tagging articles. Pure, no Kafka.

Per topic, one linear model scores the article as a whole and another each of its
passages (a paragraph, or three sentences of a long one). The taxonomy asks for a topic
that is "the main subject of at least one paragraph": the best passage's score carries
that, the whole article's score the rest. A calibration fitted on held-out folds turns the two
into a probability, and a per-topic threshold chosen on those folds decides the tag.
Evidence comes from the same arithmetic: the sentences and terms whose weights added
most to the topic's score.

Besides its words, a model may read the article's and each passage's average token
vector (:mod:`services.classifier.embeddings`) through weights of its own; a sentence's
share of that part of the score is computed exactly too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from schemas.article_classified import TopicTag
from services.classifier.embeddings import EmbeddingError, TokenEmbeddings, load_embeddings
from services.classifier.features import Featurizer, Sentence, TfIdf, membership

__all__ = ["DEFAULT_MODEL_PATH", "ModelError", "TopicModel", "TopicScores"]

DEFAULT_MODEL_PATH = Path(__file__).with_name("model") / "topics.npz"
FORMAT = 3
_READABLE = (2, 3)  # format 2 is format 3 without token embeddings
_EVIDENCE_CHARS = 300


class ModelError(ValueError):
    """The model artefact is missing or unusable; the message says which file and why."""


@dataclass(frozen=True)
class TopicScores:
    """Everything the model computed for one article, before thresholds."""

    probabilities: np.ndarray  # per topic, calibrated
    sentences: list[Sentence]
    features: np.ndarray  # vocabulary ids of the article's distinct known features
    sentence_counts: np.ndarray  # (sentences, features): occurrences per sentence
    doc_weights: np.ndarray  # (features,): the article's tf-idf weights
    # (sentences, topics): each sentence's part of the document score through the token
    # embeddings, when the model reads them
    dense_shares: np.ndarray | None = None


@dataclass(frozen=True)
class TopicModel:
    """Per-topic linear weights over tf-idf features, with calibration and thresholds."""

    name: str
    version: str
    topics: tuple[str, ...]
    tfidf: TfIdf
    coef: np.ndarray  # (features, topics): the whole article's weights
    intercept: np.ndarray  # (topics,)
    passage_coef: np.ndarray  # (features, topics): a passage's weights
    passage_intercept: np.ndarray  # (topics,)
    calibration: np.ndarray  # (topics, 3): weight of document score, of best passage, bias
    thresholds: np.ndarray  # (topics,)
    featurizer: Featurizer
    meta: dict[str, Any] = field(default_factory=dict)
    embeddings: TokenEmbeddings | None = None
    dense_coef: np.ndarray | None = None  # (dimensions, topics): the article vector's weights
    passage_dense_coef: np.ndarray | None = None  # (dimensions, topics): a passage vector's
    _idf: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_idf", np.asarray(self.tfidf.idf, dtype=np.float64))
        parts = (self.embeddings, self.dense_coef, self.passage_dense_coef)
        if any(p is None for p in parts) and any(p is not None for p in parts):
            raise ModelError("token embeddings need both their weights and the table")

    @property
    def dense(self) -> tuple[TokenEmbeddings, np.ndarray, np.ndarray] | None:
        """The token embeddings with the article's and a passage's weights, if read."""
        if (self.embeddings is None or self.dense_coef is None
                or self.passage_dense_coef is None):
            return None
        return self.embeddings, self.dense_coef, self.passage_dense_coef

    # -- scoring ---------------------------------------------------------------------------

    def score(self, title: str, body: str) -> TopicScores:
        """Calibrated probability of every topic for one article.

        The article and each of its passages become tf-idf rows over the article's own
        distinct features, so all of them are scored with one small matrix product.
        """
        sentences, passages = self.featurizer.parse_article(title, body)
        vocabulary = self.tfidf.vocabulary
        ids = [[vocabulary[f] for f in s.features if f in vocabulary] for s in sentences]
        flat = np.fromiter((i for row in ids for i in row), dtype=np.int64)
        features, column = np.unique(flat, return_inverse=True)
        counts = np.zeros((len(sentences), len(features)))
        owner = np.repeat(np.arange(len(sentences)), [len(row) for row in ids])
        np.add.at(counts, (owner, column), 1.0)
        groups = np.vstack([np.ones((1, len(sentences))), membership(passages, len(sentences))])
        rows = groups @ counts
        weights = np.zeros_like(rows)
        present = rows > 0
        weights[present] = 1.0 + np.log(rows[present])
        weights *= self._idf[features]
        norms = np.linalg.norm(weights, axis=1, keepdims=True)
        np.divide(weights, norms, out=weights, where=norms > 0)
        doc = weights[0] @ self.coef[features] + self.intercept
        passage_scores = weights[1:] @ self.passage_coef[features] + self.passage_intercept
        dense_shares = None
        if self.dense is not None:
            embeddings, dense_coef, passage_dense_coef = self.dense
            sums = embeddings.sentence_sums([s.text for s in sentences])
            vectors, norms = embeddings.pool(sums, groups)
            doc = doc + vectors[0] @ dense_coef
            passage_scores = passage_scores + vectors[1:] @ passage_dense_coef
            dense_shares = (sums @ dense_coef) / (norms[0] if norms[0] > 0 else 1.0)
        best = passage_scores.max(axis=0) if len(passages) else doc
        return TopicScores(self.calibrate(doc, best), sentences, features, counts, weights[0],
                           dense_shares)

    def calibrate(self, doc: np.ndarray, best: np.ndarray) -> np.ndarray:
        """Probabilities from the two scores (a logistic function of each topic's pair)."""
        z = self.calibration[:, 0] * doc + self.calibration[:, 1] * best + self.calibration[:, 2]
        result: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return result

    # -- tagging ---------------------------------------------------------------------------

    def tag(
        self, title: str, body: str, *, threshold: float | None = None, max_topics: int = 4
    ) -> list[TopicTag]:
        """The article's topics, most probable first, each with its evidence.

        ``threshold`` replaces the per-topic thresholds chosen in training.
        """
        scores = self.score(title, body)
        tags: list[TopicTag] = []
        for t in np.argsort(-scores.probabilities, kind="stable"):
            p = float(scores.probabilities[t])
            cut = threshold if threshold is not None else float(self.thresholds[t])
            if len(tags) == max_topics:
                break
            if p < cut:
                continue
            sentences, terms = self.evidence(scores, int(t))
            tags.append(TopicTag(id=self.topics[t], score=round(p, 3), evidence=sentences,
                                 terms=terms))
        return tags

    def evidence(
        self, scores: TopicScores, topic: int, *, max_sentences: int = 3, max_terms: int = 5
    ) -> tuple[list[str], list[str]]:
        """The sentences and terms that added most to one topic's document score.

        The document score is a sum over the article's features (and, with embeddings,
        over its tokens); each sentence's share is the part its own occurrences make up,
        so the sentences named are the ones that drove the score, in the article's own
        words. Terms are the words with the largest weights.
        """
        if not len(scores.sentences):
            return [], []
        contribution = scores.doc_weights * self.coef[scores.features, topic]
        occurrences = scores.sentence_counts.sum(axis=0)
        shares = scores.sentence_counts @ (contribution / np.maximum(occurrences, 1.0))
        if scores.dense_shares is not None:
            shares = shares + scores.dense_shares[:, topic]
        ranked = np.argsort(-shares, kind="stable")[:max_sentences]
        best = shares[ranked[0]]
        chosen = [k for k in ranked if shares[k] > 0 and shares[k] >= best / 3]
        sentences = [_clip(scores.sentences[k].text) for k in chosen]
        if not len(scores.features):
            return sentences, []
        order = np.argsort(-contribution, kind="stable")[:max_terms]
        strongest = contribution[order[0]]
        names = self.tfidf.features
        terms = [names[scores.features[k]] for k in order
                 if contribution[k] > 0 and contribution[k] >= strongest * 0.2]
        return sentences, terms

    # -- artefact --------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the artefact (numpy arrays and JSON metadata, no pickles)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {"format": FORMAT, "name": self.name, "version": self.version,
                  "topics": list(self.topics), "featurizer": self.featurizer.to_json(),
                  "meta": self.meta}
        dense: dict[str, Any] = {}
        if self.dense is not None:
            embeddings, dense_coef, passage_dense_coef = self.dense
            header["embeddings"] = {"source": embeddings.source, "sha256": embeddings.digest}
            dense = {"dense_coef": dense_coef.astype(np.float32),
                     "passage_dense_coef": passage_dense_coef.astype(np.float32)}
        vocabulary = "\n".join(self.tfidf.features).encode()
        with path.open("wb") as handle:
            np.savez_compressed(
                handle,
                **dense,
                header=np.frombuffer(orjson.dumps(header, option=orjson.OPT_SORT_KEYS),
                                     dtype=np.uint8),
                vocabulary=np.frombuffer(vocabulary, dtype=np.uint8),
                idf=np.asarray(self.tfidf.idf, dtype=np.float64),
                coef=self.coef.astype(np.float32),
                intercept=self.intercept.astype(np.float64),
                passage_coef=self.passage_coef.astype(np.float32),
                passage_intercept=self.passage_intercept.astype(np.float64),
                calibration=self.calibration.astype(np.float64),
                thresholds=self.thresholds.astype(np.float64),
            )

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL_PATH) -> TopicModel:
        """Read an artefact written by :meth:`save`; :class:`ModelError` says what is wrong.

        A model that reads token embeddings loads the installed table and refuses one
        that differs from the table it was trained with."""
        if not path.is_file():
            raise ModelError(f"{path}: no topic model there; build it with "
                             "`wirewatch train-topics` (`make setup` does)")
        try:
            with np.load(path, allow_pickle=False) as data:
                header = orjson.loads(data["header"].tobytes())
                names = data["vocabulary"].tobytes().decode().split("\n")
                arrays = {k: data[k] for k in ("idf", "coef", "intercept", "passage_coef",
                                               "passage_intercept", "calibration",
                                               "thresholds")}
                if "embeddings" in header:
                    arrays |= {k: data[k] for k in ("dense_coef", "passage_dense_coef")}
        except (OSError, ValueError, KeyError, orjson.JSONDecodeError) as exc:
            raise ModelError(f"{path}: not a topic model artefact ({exc})") from exc
        if header.get("format") not in _READABLE:
            raise ModelError(f"{path}: artefact format {header.get('format')!r}, this code "
                             f"reads {_READABLE}; rebuild it with `wirewatch train-topics`")
        topics = tuple(header["topics"])
        embeddings = None
        if "embeddings" in header:
            embeddings = _matching_embeddings(path, header["embeddings"])
            dense_shape = (embeddings.dimensions, len(topics))
            shapes_dense = {"dense_coef": dense_shape, "passage_dense_coef": dense_shape}
        else:
            shapes_dense = {}
        shapes = {"idf": (len(names),), "coef": (len(names), len(topics)),
                  "intercept": (len(topics),), "passage_coef": (len(names), len(topics)),
                  "passage_intercept": (len(topics),), "calibration": (len(topics), 3),
                  "thresholds": (len(topics),), **shapes_dense}
        for key, shape in shapes.items():
            if arrays[key].shape != shape:
                raise ModelError(f"{path}: {key} has shape {arrays[key].shape}, "
                                 f"expected {shape}")
        tfidf = TfIdf(tuple(names), tuple(arrays["idf"].tolist()))
        return cls(header["name"], header["version"], topics, tfidf,
                   arrays["coef"].astype(np.float64), arrays["intercept"],
                   arrays["passage_coef"].astype(np.float64), arrays["passage_intercept"],
                   arrays["calibration"], arrays["thresholds"],
                   Featurizer.from_json(header["featurizer"]), header.get("meta", {}),
                   embeddings, _float64(arrays.get("dense_coef")),
                   _float64(arrays.get("passage_dense_coef")))

    @property
    def label(self) -> str:
        """``name/version``, as it travels in ``articles.classified``."""
        return f"{self.name}/{self.version}"


def _matching_embeddings(path: Path, recorded: dict[str, str]) -> TokenEmbeddings:
    try:
        embeddings = load_embeddings()
    except EmbeddingError as exc:
        raise ModelError(f"{path}: the model reads token embeddings: {exc}") from exc
    if embeddings.digest != recorded.get("sha256"):
        raise ModelError(
            f"{path}: trained with the token embeddings {recorded.get('source')!r} "
            f"(sha256 {str(recorded.get('sha256'))[:12]}…), but the installed ones are "
            f"{embeddings.source!r} (sha256 {embeddings.digest[:12]}…); install the "
            "pinned versions (`make setup`) or rebuild with `wirewatch train-topics`")
    return embeddings


def _float64(array: np.ndarray | None) -> np.ndarray | None:
    return None if array is None else array.astype(np.float64)


def _clip(text: str) -> str:
    if len(text) <= _EVIDENCE_CHARS:
        return text
    cut = text.rfind(" ", 0, _EVIDENCE_CHARS - 1)
    return text[: cut if cut > 0 else _EVIDENCE_CHARS - 1].rstrip() + "…"

