"""The ``wirewatch`` command: helpers around the pipeline."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from schemas.export import JSON_DIR, export_schemas, render_schemas
from schemas.subscription import Subscription
from schemas.topics import ARTICLES_RAW, SUBSCRIPTIONS
from services.classifier.corpus import CORPUS_DIR
from services.classifier.model import DEFAULT_MODEL_PATH
from services.topics import plan
from wirewatch.kafka import producer
from wirewatch.logs import configure_logging
from wirewatch.settings import CommonSettings
from wirewatch.topology import create_topics
from wirewatch_cli.deadletters import replay_dead_letters
from wirewatch_cli.eval_names import LABELS as NAME_LABELS
from wirewatch_cli.replay import Problem, ReplayError, read_articles
from wirewatch_cli.subscriptions import Snapshot

__all__ = ["main"]


def _settings() -> CommonSettings:
    try:
        return CommonSettings()
    except ValidationError as exc:
        raise SystemExit(f"wirewatch: bad WIREWATCH_* setting: {exc}") from exc


def cmd_create_topics(args: argparse.Namespace) -> int:
    settings = _settings()
    created = asyncio.run(create_topics(settings.bootstrap_servers, plan(), settings.namespace))
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
    from devrig.demo import main as demo_main

    settings = _settings()
    return demo_main(settings.bootstrap_servers, Path(args.run_dir))


def cmd_train_topics(args: argparse.Namespace) -> int:
    from services.classifier.corpus import CorpusError, load_examples
    from services.classifier.embeddings import EmbeddingError
    from services.classifier.experiments import compare_approaches
    from services.classifier.training import CHOSEN, fit_model

    corpus, out = Path(args.corpus), Path(args.out)
    try:
        # The comparison reports; it does not choose. CHOSEN is weighed on cross-validation
        # and on sources left out too, which one validation split cannot show.
        if args.compare:
            best = compare_approaches(corpus)
            if best != CHOSEN:
                print(f"note: the best on validation alone is {best.name} C={best.c:g}; "
                      f"training the project's choice {CHOSEN.name} C={CHOSEN.c:g}",
                      file=sys.stderr)
        examples = load_examples(corpus, ["train", "validation"])
        started = time.perf_counter()
        model = fit_model(examples, CHOSEN)
    except (CorpusError, EmbeddingError) as exc:
        print(f"wirewatch train-topics: {exc}", file=sys.stderr)
        return 2
    model.save(out)
    print(f"trained {model.label} ({CHOSEN.name}, C={CHOSEN.c:g}) on {len(examples)} "
          f"articles in {time.perf_counter() - started:.1f} s: {out}")
    return 0


def cmd_eval_topics(args: argparse.Namespace) -> int:
    from services.classifier.corpus import CorpusError
    from services.classifier.experiments import evaluate_model
    from services.classifier.model import ModelError, TopicModel

    try:
        evaluate_model(TopicModel.load(Path(args.model)), Path(args.corpus),
                       folds=not args.quick)
    except (CorpusError, ModelError) as exc:
        print(f"wirewatch eval-topics: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_topics_corpus(args: argparse.Namespace) -> int:
    from services.classifier.corpus import CorpusError, add_articles
    from services.classifier.experiments import agreement_report

    try:
        if args.add:
            added = add_articles(Path(args.corpus), Path(args.add))
            print(f"added {len(added)} article(s): " + ", ".join(
                f"{split} {sum(a.split == split for a in added)}"
                for split in ("train", "validation", "test")))
            return 0
        agreement_report(Path(args.corpus))
    except CorpusError as exc:
        print(f"wirewatch topics-corpus: {exc}", file=sys.stderr)
        return 2
    return 0


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or time (e.g. 2026-01-06 or 2026-01-06T12:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_deadletters_replay(args: argparse.Namespace) -> int:
    settings = _settings()
    chosen = asyncio.run(replay_dead_letters(settings, stage=args.stage, since=args.since,
                                             dry_run=args.dry_run))
    done = 0
    for choice in chosen:
        letter = choice.letter
        where = f"{letter.stage} {letter.topic}:{letter.partition}@{letter.offset}"
        if choice.problem:
            print(f"skipped  {where}: {choice.problem}")
        else:
            done += 1
            print(f"{'would replay' if args.dry_run else 'replayed'} {where}: {letter.error}")
    print(f"{done} of {len(chosen)} dead letter(s) {'to replay' if args.dry_run else 'replayed'}")
    return 0


def cmd_eval_dedup(args: argparse.Namespace) -> int:
    from services.classifier.corpus import load_articles
    from services.dedup.evaluation import (
        build_set,
        grouping,
        inserted_pairs,
        judge,
        reorder,
        score,
        template_pairs,
    )
    from services.dedup.settings import Settings as DedupSettings

    splits = {"test": {"test"}, "dev": {"train", "validation"}}[args.split]
    articles = [a for a in load_articles(Path(args.corpus)) if a.split in splits]
    params = DedupSettings().lsh_params()
    print(f"dedup's rule on derived copies of real articles ({args.split} split of "
          f"{args.corpus}; {args.orders} arrival orders)")
    built = build_set(articles, seed=args.seed, originals=args.originals)
    for order in range(args.orders):
        docs = built if order == 0 else reorder(built, seed=args.seed * 1000 + order)
        judged = judge(docs, params)
        result, groups = score(judged), grouping(judged)
        kinds = Counter(d.kind for d in docs)
        if order == 0:
            print("  documents: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
        print(f"  order {order + 1}: precision {result.precision:.4f}  recall "
              f"{result.recall:.4f}  ({result.caught} of {result.expected} copies caught, "
              f"{result.wrong} of {result.called} calls wrong)")
        for kind in sorted(result.expected_by_kind):
            missed = result.missed_by_kind.get(kind, 0)
            if missed:
                print(f"    missed {missed} of {result.expected_by_kind[kind]} {kind}")
        for kind, n in sorted(result.false_by_kind.items()):
            print(f"    {n} {kind} wrongly called a copy")
        print(f"    after the stream: {groups.whole} of {groups.stories} stories with copies "
              f"in one story, {groups.joined} wrongly joined")
    wraps = template_pairs(articles, params)
    print(f"  template wraps, every pair of one source's articles: {wraps.called} of "
          f"{wraps.pairs:,} wrongly called copies")
    inserts = inserted_pairs(articles, params)
    print(f"  copies with an insert of their own each: {inserts.called} of {inserts.pairs} "
          f"caught ({inserts.pairs - inserts.called} missed)")
    return 0


def cmd_bench_match(args: argparse.Namespace) -> int:
    import orjson

    from wirewatch_cli.bench_match import articles_of, generate_subscriptions, measure

    articles = articles_of(Path(args.corpus))
    runs = []
    for count in args.subscriptions:
        subs = generate_subscriptions(count, articles, seed=args.seed)
        result = measure(subs, articles)
        runs.append(result)
        one_by_one = ("" if result.one_by_one_per_s is None else
                      f"; every subscription in turn {result.one_by_one_per_s:,.0f}/s")
        print(f"{count:>7,} subscriptions: {result.articles_per_s:,.0f} articles/s "
              f"({result.us_per_article:,.0f} us each, {result.matches_per_article:.1f} "
              f"matches per article){one_by_one}", file=sys.stderr)
    last = runs[-1].as_json()
    if len(runs) > 1:
        last["runs"] = [r.as_json() for r in runs]
    print(orjson.dumps(last).decode())
    return 0


def cmd_eval_names(args: argparse.Namespace) -> int:
    import orjson

    from services.classifier.corpus import load_articles
    from wirewatch_cli.eval_names import evaluate, load_labels

    labels = load_labels(Path(args.labels))
    articles = [a for a in load_articles(Path(args.corpus)) if a.title]
    missing = [a.id for a in articles if a.id not in labels]
    if missing:
        print(f"wirewatch eval-names: {len(missing)} headline(s) without labels in "
              f"{args.labels}, e.g. {missing[0]}", file=sys.stderr)
        return 2
    titles = [a.title for a in articles]
    scores, false_friends = evaluate(titles, [labels[a.id] for a in articles])
    print(f"names watched in every spelling, on {len(titles)} real headlines of {args.corpus}"
          f" (labels: {args.labels})")
    print(f"{'name':<22}{'headlines':>10}{'worst recall':>14}  (spelling){'found':>8}"
          f"{'wrong':>7}")
    for s in sorted(scores, key=lambda s: (-s.headlines, s.name)):
        print(f"{s.name:<22}{s.headlines:>10}{s.worst_recall:>14.3f}  ({s.worst_spelling})"
              f"{s.found:>8}{s.wrong:>7}")
    for watched, other, wrong in false_friends:
        print(f"watching {watched!r}: {wrong} headline(s) found only by {other!r}")
    found = sum(s.found for s in scores)
    wrong = sum(s.wrong for s in scores)
    summary = {
        "headlines": len(titles), "names": len(scores),
        "mentions": sum(s.headlines for s in scores),
        "min_recall": min((s.worst_recall for s in scores), default=1.0),
        "precision": round((found - wrong) / found, 4) if found else 1.0,
        "given_name_false_friends": sum(w for _, _, w in false_friends),
    }
    print(orjson.dumps(summary).decode())
    return 0


def cmd_match_test(args: argparse.Namespace) -> int:
    import orjson

    from services.notifier.index import SubscriptionIndex
    from services.notifier.subscriptions import SubscriptionError, load_subscriptions
    from wirewatch_cli.matchtest import match_lines

    try:
        index = SubscriptionIndex(load_subscriptions(Path(args.subscriptions)))
    except SubscriptionError as exc:
        print(f"wirewatch match-test: {exc}", file=sys.stderr)
        return 2
    bad = 0
    for line in match_lines(index, Path(args.articles)):
        if isinstance(line, Problem):
            print(f"wirewatch match-test: {line.where}: {line.error}", file=sys.stderr)
            bad += 1
        else:
            print(orjson.dumps(line).decode())
    return 1 if bad else 0


def _load_file(command: str, path: str, resolve_env: bool = False) -> list[Subscription] | None:
    from services.notifier.subscriptions import SubscriptionError, load_subscriptions, resolve

    try:
        subs = load_subscriptions(Path(path))
        if resolve_env:
            for sub in subs:
                resolve(sub)
    except SubscriptionError as exc:
        print(f"wirewatch subscriptions {command}: {exc}", file=sys.stderr)
        return None
    return subs


def cmd_subscriptions_validate(args: argparse.Namespace) -> int:
    subs = _load_file("validate", args.file, resolve_env=args.resolve)
    if subs is None:
        return 2
    print(f"{args.file}: {len(subs)} valid subscription(s): "
          + ", ".join(s.name for s in subs))
    references = sorted({r for s in subs for r in s.channels.references()})
    if references and not args.resolve:
        print("the notifier must have these environment variables: " + ", ".join(references))
    return 0


def cmd_subscriptions_import(args: argparse.Namespace) -> int:
    from wirewatch_cli import subscriptions as manage

    subs = _load_file("import", args.file)
    if subs is None:
        return 2
    settings = _settings()
    topic = settings.topic(SUBSCRIPTIONS.name)
    deleted = asyncio.run(manage.publish(settings.bootstrap_servers, topic, subs,
                                         replace=args.replace))
    print(f"imported {len(subs)} subscription(s) into {topic}: "
          + ", ".join(s.name for s in subs))
    if deleted:
        print(f"deleted {len(deleted)} not in {args.file}: {', '.join(deleted)}")
    return 0


def _read_topic(command: str) -> tuple[CommonSettings, str, Snapshot] | None:
    from wirewatch_cli import subscriptions as manage

    settings = _settings()
    topic = settings.topic(SUBSCRIPTIONS.name)
    try:
        snapshot = asyncio.run(manage.read(settings.bootstrap_servers, topic))
    except LookupError as exc:
        print(f"wirewatch subscriptions {command}: {exc}", file=sys.stderr)
        return None
    for problem in snapshot.problems:
        print(f"wirewatch subscriptions {command}: {topic} key {problem.key!r}: "
              f"{problem.error}", file=sys.stderr)
    return settings, topic, snapshot


def cmd_subscriptions_export(args: argparse.Namespace) -> int:
    from wirewatch_cli.subscriptions import to_yaml

    found = _read_topic("export")
    if found is None:
        return 2
    text = to_yaml(found[2].subscriptions.values())
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {len(found[2].subscriptions)} subscription(s) to {args.output}")
    else:
        sys.stdout.write(text)
    return 1 if found[2].problems else 0


def cmd_subscriptions_list(args: argparse.Namespace) -> int:
    from wirewatch_cli.subscriptions import summary

    found = _read_topic("list")
    if found is None:
        return 2
    now = datetime.now(UTC)
    for sub in found[2].subscriptions.values():
        print(summary(sub, now))
    print(f"{len(found[2].subscriptions)} subscription(s) in {found[1]}")
    return 1 if found[2].problems else 0


def cmd_subscriptions_delete(args: argparse.Namespace) -> int:
    from wirewatch_cli import subscriptions as manage

    settings = _settings()
    topic = settings.topic(SUBSCRIPTIONS.name)
    try:
        asyncio.run(manage.delete(settings.bootstrap_servers, topic, args.names))
    except LookupError as exc:
        print(f"wirewatch subscriptions delete: {exc}", file=sys.stderr)
        return 2
    print(f"deleted {', '.join(args.names)}")
    return 0


def cmd_subscriptions_mute(args: argparse.Namespace) -> int:
    from wirewatch_cli import subscriptions as manage

    until: datetime | None = None
    if args.action == "mute":
        try:
            until = (datetime.now(UTC) + manage.parse_duration(args.duration) if args.duration
                     else args.until)
        except ValueError as exc:
            print(f"wirewatch subscriptions mute: {exc}", file=sys.stderr)
            return 2
    settings = _settings()
    try:
        sub = asyncio.run(manage.set_muted(settings.bootstrap_servers,
                                           settings.topic(SUBSCRIPTIONS.name), args.name, until))
    except LookupError as exc:
        print(f"wirewatch subscriptions {args.action}: {exc}", file=sys.stderr)
        return 2
    print(f"{sub.name}: muted until {sub.muted_until.isoformat()}" if sub.muted_until
          else f"{sub.name}: not muted")
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

    p = sub.add_parser("deadletters", help="dead letters: replay them once their cause is fixed")
    dead = p.add_subparsers(dest="action", required=True)
    p = dead.add_parser("replay", help="publish dead letters' messages again to their topics")
    p.add_argument("--stage", help="only this stage or its sub-stages, e.g. notifier or "
                                   "notifier.deliver.slack")
    p.add_argument("--since", type=_moment, help="only those from this ISO date or time on")
    p.add_argument("--dry-run", action="store_true", help="list them, publish nothing")
    p.set_defaults(func=cmd_deadletters_replay)

    p = sub.add_parser("demo", help="run the whole pipeline on the bundled demo feeds")
    p.add_argument("--run-dir", default=".run/demo", help="logs and data of the demo")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train-topics", help="train the topic model on the labelled corpus")
    p.add_argument("--compare", action="store_true",
                   help="first compare the approaches on the validation split (the trained model "
                   "is the project's choice all the same)")
    p.add_argument("--corpus", default=str(CORPUS_DIR), help="labelled corpus folder")
    p.add_argument("--out", default=str(DEFAULT_MODEL_PATH), help="artefact to write")
    p.set_defaults(func=cmd_train_topics)

    p = sub.add_parser("eval-topics", help="the topic model on the test split of real articles")
    p.add_argument("--model", default=str(DEFAULT_MODEL_PATH), help="artefact to measure")
    p.add_argument("--corpus", default=str(CORPUS_DIR), help="labelled corpus folder")
    p.add_argument("--quick", action="store_true",
                   help="test split only: skip calibration and cross-validation")
    p.set_defaults(func=cmd_eval_topics)

    p = sub.add_parser("eval-dedup", help="dedup's judgement on derived copies of real text")
    p.add_argument("--split", choices=("test", "dev"), default="test",
                   help="originals from the held-out test split (default) or train+validation")
    p.add_argument("--corpus", default=str(CORPUS_DIR), help="corpus of real articles")
    p.add_argument("--originals", type=int, default=300, help="originals to derive from")
    p.add_argument("--orders", type=int, default=3, help="arrival orders to try")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_eval_dedup)

    p = sub.add_parser("bench-match", help="time the notifier's matching against N "
                                           "generated subscriptions")
    p.add_argument("--subscriptions", type=int, nargs="+", default=[10, 1000, 10000],
                   help="numbers of subscriptions to time (the JSON line is the last)")
    p.add_argument("--corpus", default=str(CORPUS_DIR), help="the real articles to match")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_bench_match)

    p = sub.add_parser("eval-names", help="watching each spelling of a name on real "
                                          "headlines: recall and precision")
    p.add_argument("--corpus", default=str(CORPUS_DIR), help="corpus of real articles")
    p.add_argument("--labels", default=str(NAME_LABELS),
                   help="which names each headline mentions (JSON lines: id, names)")
    p.set_defaults(func=cmd_eval_names)

    p = sub.add_parser("match-test", help="which subscriptions each article of a file "
                                          "matches, and why (one JSON line per article)")
    p.add_argument("--subscriptions", required=True, help="subscriptions YAML file")
    p.add_argument("--articles", required=True,
                   help="JSON lines: articles.classified records or raw articles")
    p.set_defaults(func=cmd_match_test)

    p = sub.add_parser("subscriptions", help="manage the subscriptions topic")
    actions = p.add_subparsers(dest="action", required=True)
    v = actions.add_parser("validate", help="check a subscriptions YAML file")
    v.add_argument("file")
    v.add_argument("--resolve", action="store_true",
                   help="also expand ${VAR} references with this environment, as the "
                        "notifier would, and check the values")
    v.set_defaults(func=cmd_subscriptions_validate)
    v = actions.add_parser("import", help="write a YAML file's subscriptions to the topic "
                                          "(nothing is written if any entry is bad)")
    v.add_argument("file")
    v.add_argument("--replace", action="store_true",
                   help="also delete the subscriptions the file does not hold")
    v.set_defaults(func=cmd_subscriptions_import)
    v = actions.add_parser("export", help="the topic's subscriptions as an importable file")
    v.add_argument("-o", "--output", help="file to write (default: standard output)")
    v.set_defaults(func=cmd_subscriptions_export)
    v = actions.add_parser("list", help="one line per subscription, webhook URLs masked")
    v.set_defaults(func=cmd_subscriptions_list)
    v = actions.add_parser("delete", help="delete subscriptions by name (tombstones)")
    v.add_argument("names", nargs="+")
    v.set_defaults(func=cmd_subscriptions_delete)
    v = actions.add_parser("mute", help="silence a subscription for a while")
    v.add_argument("name")
    when = v.add_mutually_exclusive_group(required=True)
    when.add_argument("--for", dest="duration", help="a duration: 30m, 2h, 1d, 1w")
    when.add_argument("--until", type=_moment, help="an ISO date or time")
    v.set_defaults(func=cmd_subscriptions_mute)
    v = actions.add_parser("unmute", help="end a subscription's mute")
    v.add_argument("name")
    v.set_defaults(func=cmd_subscriptions_mute)

    p = sub.add_parser("topics-corpus", help="corpus sources, splits and labelling agreement")
    p.add_argument("--corpus", default=str(CORPUS_DIR), help="labelled corpus folder")
    p.add_argument("--add", metavar="FILE.jsonl",
                   help="append these articles, each with its story and split, and stop")
    p.set_defaults(func=cmd_topics_corpus)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wirewatch`` console command."""
    args = build_parser().parse_args(argv)
    configure_logging("cli", "WARNING")
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
