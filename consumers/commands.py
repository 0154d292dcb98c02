"""The service's commands: ``serve``, ``snapshot show``, ``replay`` (feed an ARFF stream into
Kafka) and ``bench-service``.

They are registered with the ``streamlearn`` command through the ``streamlearn.commands`` entry
point (pyproject.toml), so the library never imports this package. Light to import: Kafka
clients and the service are imported inside the handlers.
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
        "serve",
        help="run the service: learn from a stream, serve HTTP queries and /metrics",
        description="Run the service. Without --kafka it replays a synthetic stream (or "
        "--data FILE) at --rate events/s with local snapshots (embedded mode); with --kafka it "
        "consumes the events/labels topics of a broker. Every option also has a STREAMLEARN_* "
        "environment variable (see docs/service.md).",
    )
    p.add_argument("--host", help="HTTP address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port (default 8000)")
    p.add_argument("--kafka", metavar="BOOTSTRAP", help="Kafka mode: the broker's host:port")
    p.add_argument("--data", metavar="FILE", help="embedded mode: ARFF file to replay")
    p.add_argument("--rate", type=float, help="embedded mode: events/s (0 = no limit)")
    p.add_argument("--label-delay", type=int, help="embedded mode: labels arrive N events later")
    p.add_argument("--learner", help="learner name, 'auto' or module:Class")
    p.add_argument("--active-learning", metavar="STRATEGY", help="ask labels (random, vu, rvu...)")
    p.add_argument("--label-budget", type=float, help="share of labels that may be asked")
    p.add_argument("--snapshot-dir", help="embedded mode: snapshot directory")
    p.add_argument("--topic-prefix", help="Kafka mode: prefix of the topic names")
    p.add_argument("--group-id", help="Kafka mode: consumer group")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="allow --host other than loopback without STREAMLEARN_API_TOKEN (/v1/* open)",
    )
    p.set_defaults(func=_serve)

    s = subparsers.add_parser("snapshot", help="inspect model snapshots")
    ssub = s.add_subparsers(dest="snapshot_command", metavar="ACTION")
    show = ssub.add_parser(
        "show",
        help="verify a snapshot's signature and print its header (format, versions, learner, "
        "shard, offsets)",
        description="Verify and print the header of a snapshot file, or of the snapshots in "
        "the compacted snapshots topic of a broker (--kafka). The signature is checked with "
        "the service's keys (STREAMLEARN_SNAPSHOT_KEYS, else the host's key file) before "
        "anything else; an unsigned or forged snapshot is reported and never unpickled.",
    )
    show.add_argument("path", nargs="?", help="snapshot file (or a snapshot directory)")
    show.add_argument("--kafka", metavar="BOOTSTRAP", help="read the snapshots topic instead")
    show.add_argument("--topic-prefix", default=None, help="topic prefix (default from settings)")
    show.add_argument("--load", action="store_true", help="also unpickle the state and describe it")
    show.set_defaults(func=_snapshot_show)
    sign = ssub.add_parser(
        "sign",
        help="sign unsigned snapshot files that you trust (written before snapshots were signed)",
        description="Sign snapshot files in place with the service's signing key "
        "(STREAMLEARN_SNAPSHOT_KEYS, else the host's key file). Only for snapshots you trust: "
        "a signature makes the service unpickle them. Signed snapshots are left alone.",
    )
    sign.add_argument("paths", nargs="+", help="snapshot files or directories")
    sign.set_defaults(func=_snapshot_sign)
    s.set_defaults(func=lambda args: (s.print_help(sys.stderr), 2)[1])

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


_FLAGS = {
    "host": "host",
    "port": "port",
    "kafka": "kafka_bootstrap",
    "data": "data",
    "rate": "rate",
    "label_delay": "label_delay",
    "learner": "learner",
    "active_learning": "active_learning",
    "label_budget": "label_budget",
    "snapshot_dir": "snapshot_dir",
    "topic_prefix": "topic_prefix",
    "group_id": "group_id",
    "log_level": "log_level",
    "insecure": "insecure",
}


def settings_from_args(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from streamlearn.settings import Settings

    overrides = {
        field: getattr(args, flag)
        for flag, field in _FLAGS.items()
        if getattr(args, flag, None) is not None
    }
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SystemExit(f"streamlearn: invalid settings:\n{exc}") from None


def _serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    from consumers.service import run_service

    return run_service(settings)


def _describe_snapshot(data: bytes, load: bool, settings: Any) -> dict[str, Any]:
    from streamlearn import snapshot

    keys = settings.signing_keys()
    header = snapshot.verify(data, keys)
    out: dict[str, Any] = {"bytes": len(data), "verified": True, **header.to_dict()}
    if load:
        snap = snapshot.loads(data, keys, trusted_modules=settings.trusted_modules())
        state = snap.state
        learner = getattr(state, "learner", None)
        out["warnings"] = list(snap.warnings)
        out["model"] = learner.describe() if learner is not None else None
        counts = getattr(state, "counts", None)
        if counts is not None:
            out["counts"] = dict(counts)
    return out


def _snapshot_show(args: argparse.Namespace) -> int:
    from pathlib import Path

    from streamlearn.settings import Settings
    from streamlearn.snapshot import SnapshotError

    items: list[tuple[str, bytes]] = []
    kw = {}
    if args.kafka:
        kw["kafka_bootstrap"] = args.kafka
    if args.topic_prefix is not None:
        kw["topic_prefix"] = args.topic_prefix
    settings = Settings(**kw)
    if args.kafka:
        from consumers.snapshots import read_all_snapshots

        items = sorted(read_all_snapshots(settings).items())
    elif args.path:
        try:
            items = [(str(f), f.read_bytes()) for f in _snapshot_files(Path(args.path))]
        except OSError as exc:
            print(f"streamlearn: {exc}", file=sys.stderr)
            return 1
    else:
        print("streamlearn snapshot show: give a PATH or --kafka BOOTSTRAP", file=sys.stderr)
        return 2
    status = 0
    for where, data in items:
        try:
            desc = _describe_snapshot(data, args.load, settings)
        except SnapshotError as exc:
            print(f"{where}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(json.dumps({"source": where, **desc}, indent=2, default=str))
    return status


def _snapshot_files(path: Any) -> list[Any]:
    files = sorted(path.glob("*.snap")) if path.is_dir() else [path]
    if not files:
        raise OSError(f"no snapshot in {path}")
    return files


def _snapshot_sign(args: argparse.Namespace) -> int:
    from pathlib import Path

    from streamlearn.settings import Settings
    from streamlearn.snapshot import LocalSnapshotStore, sign

    keys = Settings().signing_keys()
    status = 0
    try:
        files = [f for p in args.paths for f in _snapshot_files(Path(p))]
    except OSError as exc:
        print(f"streamlearn: {exc}", file=sys.stderr)
        return 1
    for f in files:
        try:
            signed = sign(f.read_bytes(), keys)
            LocalSnapshotStore(f.parent, suffix=f.suffix).save(f.stem, signed)  # atomic
        except (OSError, ValueError) as exc:  # SnapshotError is a ValueError
            print(f"{f}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{f}: signed with key {keys.signing_id}", file=sys.stderr)
    return status
