"""classifier's Kafka wiring: ``articles.unique`` → ``articles.classified``.

Tagging is a pure function of the article and the model, so a redelivered message gives
the same output: the stage is idempotent without state.
"""

from __future__ import annotations

import logging

import faust

from schemas.article_classified import ClassifiedArticle
from schemas.article_unique import UniqueArticle
from schemas.topics import ARTICLES_CLASSIFIED, ARTICLES_UNIQUE
from services.classifier.model import TopicModel
from services.classifier.settings import Settings
from wirewatch.logs import fields
from wirewatch.streaming import ErrorPolicy, make_app

__all__ = ["SERVICE", "classify_article", "create_app"]

SERVICE = "classifier"
log = logging.getLogger("wirewatch.classifier")


def classify_article(article: UniqueArticle, model: TopicModel,
                     settings: Settings) -> ClassifiedArticle:
    """The article with the model's topics, their scores and evidence."""
    tags = model.tag(article.title, article.body, threshold=settings.threshold,
                     max_topics=settings.max_topics)
    return ClassifiedArticle(**article.model_dump(), topics=tags, classifier=model.name,
                             classifier_version=model.version)


def create_app(settings: Settings) -> faust.App:
    """Build the classifier faust app."""
    model = TopicModel.load(settings.model_path)
    log.info("topic model loaded", extra=fields(model=model.label, path=str(settings.model_path)))
    app = make_app(SERVICE, settings)
    policy = ErrorPolicy.for_app(app, settings)
    source = app.topic(settings.topic(ARTICLES_UNIQUE.name), value_type=bytes)
    target = app.topic(settings.topic(ARTICLES_CLASSIFIED.name), value_type=bytes)

    async def classify_one(key: bytes | None, value: bytes) -> None:
        article = UniqueArticle.from_bytes(value)
        out = classify_article(article, model, settings)
        await target.send(key=article.id.encode(), value=out.to_bytes())
        log.info("article classified", extra=fields(
            article_id=article.id, topics=",".join(t.id for t in out.topics) or "-"))

    @app.agent(source, name="classify_articles")
    async def classify_articles(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await policy.run(event.message, "classifier.classify", classify_one)

    return app
