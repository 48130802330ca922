"""The ``wirewatch`` command: helpers around the pipeline."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from schemas.export import JSON_DIR, export_schemas, render_schemas
from schemas.topics import ARTICLES_RAW
from wirewatch.kafka import producer
from wirewatch.logs import configure_logging
from wirewatch.replay import Problem, ReplayError, read_articles
from wirewatch.settings import CommonSettings
from wirewatch.topology import create_topics

__all__ = ["main"]


def _settings() -> CommonSettings:
    try:
        return CommonSettings()
    except ValidationError as exc:
        raise SystemExit(f"wirewatch: bad WIREWATCH_* setting: {exc}") from exc


def cmd_create_topics(args: argparse.Namespace) -> int:
    settings = _settings()
    created = asyncio.run(create_topics(settings.bootstrap_servers, settings.namespace))
    print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))
    return 0


def cmd_export_schemas(args: argparse.Namespace) -> int:
    if args.check:
        stale = [
            name for name, content in render_schemas().items()
            if not (JSON_DIR / name).exists() or (JSON_DIR / name).read_bytes() != content
        ]
        if stale:
            print("out of date: " + ", ".join(stale) + " (run `wirewatch export-schemas`)")
            return 1
        print("JSON Schemas are in step with the models")
        return 0
    for path in export_schemas():
        print(f"wrote {path}")
    return 0


async def _replay(path: Path, source: str, settings: CommonSettings) -> tuple[int, int]:
    sent = bad = 0
    topic = settings.topic(ARTICLES_RAW.name)
    async with producer(settings.bootstrap_servers) as prod:
        for item in read_articles(path, source):
            if isinstance(item, Problem):
                bad += 1
                print(f"skipped {item.where}: {item.error}", file=sys.stderr)
                continue
            await prod.send(topic, item.to_bytes(), key=item.id.encode())
            sent += 1
    return sent, bad


def cmd_replay(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        sent, bad = asyncio.run(_replay(Path(args.path), args.source, settings))
    except ReplayError as exc:
        print(f"wirewatch replay: {exc}", file=sys.stderr)
        return 2
    print(f"published {sent} article(s) to {settings.topic(ARTICLES_RAW.name)}"
          + (f"; {bad} skipped" if bad else ""))
    return 1 if bad else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from wirewatch.demo import main as demo_main

    settings = _settings()
    return demo_main(settings.bootstrap_servers, Path(args.run_dir))


def cmd_eval_topics(args: argparse.Namespace) -> int:
    from services.classifier.evaluation import (
        evaluate,
        format_report,
        load_labelled,
        seed_heading_examples,
    )
    from services.classifier.logic import classify, load_lexicon

    lexicon = load_lexicon()

    def predict(title: str, body: str) -> set[str]:
        return {t.id for t in classify(title, body, lexicon)}

    labelled = load_labelled()
    print(format_report("hand-labelled set", evaluate(labelled, predict), len(labelled)))
    seeds = Path(args.seeds)
    if seeds.is_dir():
        examples = []
        for path in sorted(seeds.glob("*.txt")):
            examples += seed_heading_examples(path.read_text(encoding="utf-8"), path.name)
        if examples:
            print()
            print(format_report("key-events bullets labelled by their heading",
                                evaluate(examples, predict), len(examples)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wirewatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("create-topics", help="create the pipeline's topics (idempotent)")
    p.set_defaults(func=cmd_create_topics)

    p = sub.add_parser("export-schemas", help="write JSON Schema of every public model")
    p.add_argument("--check", action="store_true", help="only check that the files are current")
    p.set_defaults(func=cmd_export_schemas)

    p = sub.add_parser("replay", help="publish JSON-lines files or a folder of text files")
    p.add_argument("path", help="a .jsonl file, a .txt file, or a folder of them")
    p.add_argument("--source", default="replay", help="source name for text files")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("demo", help="run the whole pipeline on the bundled demo feeds")
    p.add_argument("--run-dir", default=".run/demo", help="logs and data of the demo")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("eval-topics", help="per-topic precision, recall and F1")
    p.add_argument("--seeds", default="../shared/seeds",
                   help="folder with key-events digests to use as a second labelled set")
    p.set_defaults(func=cmd_eval_topics)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wirewatch`` console command."""
    args = build_parser().parse_args(argv)
    configure_logging("cli", "WARNING")
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
