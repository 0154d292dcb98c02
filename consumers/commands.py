"""``streamlearn replay`` (feed an ARFF stream into Kafka) and ``streamlearn bench-service``.

Light to import: Kafka clients and the service are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "replay",
        help="produce an ARFF stream (or the synthetic stream) into Kafka as service events",
        description="Replay a (MEKA) ARFF file into the events topic, one JSON event per row "
        "(key = id); or, with --synthetic, the endless seeded synthetic stream of the embedded "
        "service (shape, seed and planted drift period from STREAMLEARN_SYNTH_* and "
        "STREAMLEARN_SEED). Labels go inside the event (--labels inline), to the labels topic N "
        "events later (--labels delayed), or nowhere (--labels none).",
    )
    p.add_argument("file", nargs="?", help="ARFF file (.arff or .arff.gz)")
    p.add_argument(
        "--synthetic",
        action="store_true",
        help="replay the synthetic stream instead of a file (endless: stop it or give --limit)",
    )
    p.add_argument(
        "--kafka", metavar="BOOTSTRAP", help="broker (default $STREAMLEARN_KAFKA_BOOTSTRAP)"
    )
    p.add_argument("--topic", help="events topic (default <prefix>events)")
    p.add_argument(
        "--labels-topic", help="labels topic for --labels delayed (default <prefix>labels)"
    )
    p.add_argument(
        "--rate", type=float, default=0.0, help="events/s (default 0 = as fast as possible)"
    )
    p.add_argument("--labels", choices=["inline", "delayed", "none"], default="inline")
    p.add_argument(
        "--label-delay", type=int, default=100, help="events between an event and its labels"
    )
    p.add_argument("--limit", type=int, help="stop after this many events")
    p.add_argument("--loop", action="store_true", help="start the file again at its end")
    p.add_argument(
        "--features",
        choices=["array", "names"],
        default="array",
        help="x as a dense array / sparse {indices, values} (default) or as {name: value}",
    )
    p.add_argument("--id-prefix", default="", help="prefix of the event ids")
    p.set_defaults(func=_replay)

    b = subparsers.add_parser(
        "bench-service",
        help="end-to-end events/s through Kafka beside the bare consume rate; /v1/predict latency",
        description="Produce a Yeast-shaped stream (103 features, 14 labels) into a fresh topic, "
        "then measure in the same run: the bare kafka-python consume rate of those events, and the "
        "service's end-to-end rate (consume, decode, predict, learn, emit predictions), with "
        "/v1/predict p50/p99 latency measured by a separate client process while it learns.",
    )
    b.add_argument("--kafka", metavar="BOOTSTRAP", help="broker (default $STREAMLEARN_TEST_KAFKA)")
    b.add_argument("--events", type=int, default=20_000)
    b.add_argument("--learner", default=None, help="learner (default: the service's, 'auto')")
    b.add_argument("--predict-interval-ms", type=float, default=5.0, help="client pacing")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--keep-topics", action="store_true", help="do not delete the bench topics")
    b.set_defaults(func=_bench)


def _replay(args: argparse.Namespace) -> int:
    from consumers.replay import replay
    from streamlearn.settings import Settings

    kw: dict[str, Any] = {}
    if args.kafka:
        kw["kafka_bootstrap"] = args.kafka
    settings = Settings(**kw)
    if not settings.kafka_bootstrap:
        print("streamlearn replay: give --kafka BOOTSTRAP", file=sys.stderr)
        return 2
    if bool(args.file) == bool(args.synthetic):
        print("streamlearn replay: give an ARFF file or --synthetic (not both)", file=sys.stderr)
        return 2
    from consumers.kafka_config import kafka_args

    n = replay(
        args.file,
        bootstrap=kafka_args(settings),
        topic=args.topic or settings.topic("events"),
        labels_topic=args.labels_topic or settings.topic("labels"),
        rate=args.rate,
        labels=args.labels,
        label_delay=args.label_delay,
        limit=args.limit,
        loop=args.loop,
        names=args.features == "names",
        id_prefix=args.id_prefix,
        synthetic=settings if args.synthetic else None,
    )
    print(f"replayed {n} events", file=sys.stderr)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from consumers.bench import run_bench

    bootstrap = args.kafka or os.environ.get("STREAMLEARN_TEST_KAFKA")
    if not bootstrap:
        print(
            "streamlearn bench-service: give --kafka BOOTSTRAP or set STREAMLEARN_TEST_KAFKA",
            file=sys.stderr,
        )
        return 2
    result = run_bench(
        bootstrap,
        n_events=args.events,
        learner=args.learner,
        predict_interval_ms=args.predict_interval_ms,
        keep_topics=args.keep_topics,
        log=None if args.json else sys.stderr,
    )
    if args.json:
        print(json.dumps(result))
    else:
        width = max(len(k) for k in result)
        for k, v in result.items():
            print(f"{k:<{width}}  {v}")
    return 0
