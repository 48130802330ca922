"""classifier's Kafka wiring: ``articles.unique`` → ``articles.classified``.

Tagging is a pure function of the article, so a redelivered message gives the same
output: the stage is idempotent without state.
"""

from __future__ import annotations

import logging

import faust

from schemas.article_classified import ClassifiedArticle
from schemas.article_unique import UniqueArticle
from schemas.topics import ARTICLES_CLASSIFIED, ARTICLES_UNIQUE
from services.classifier.logic import CLASSIFIER_NAME, classify, load_lexicon
from services.classifier.settings import Settings
from wirewatch.logs import fields
from wirewatch.streaming import ErrorPolicy, make_app

__all__ = ["SERVICE", "create_app"]

SERVICE = "classifier"
log = logging.getLogger("wirewatch.classifier")


def create_app(settings: Settings) -> faust.App:
    """Build the classifier faust app."""
    lexicon = load_lexicon(settings.lexicon_path)
    app = make_app(SERVICE, settings)
    policy = ErrorPolicy(app, settings)
    source = app.topic(settings.topic(ARTICLES_UNIQUE.name), value_type=bytes)
    target = app.topic(settings.topic(ARTICLES_CLASSIFIED.name), value_type=bytes)

    async def classify_one(key: bytes | None, value: bytes) -> None:
        article = UniqueArticle.from_bytes(value)
        tags = classify(article.title, article.body, lexicon, threshold=settings.threshold,
                        max_topics=settings.max_topics)
        out = ClassifiedArticle(**article.model_dump(), topics=tags, classifier=CLASSIFIER_NAME)
        await target.send(key=article.id.encode(), value=out.to_bytes())
        log.info("article classified",
                 extra=fields(article_id=article.id, topics=",".join(t.id for t in tags) or "-"))

    @app.agent(source, name="classify_articles")
    async def classify_articles(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await policy.run(event, "classifier.classify", classify_one)

    return app
