"""`storelens bench ingest` and `storelens bench publish` (sync and cloud side), added to `bench`."""

from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    ingest = sub.add_parser("ingest", help="ingest msgs/s into SQLite and PostgreSQL (starts its own servers)")
    ingest.add_argument("--messages", type=int, default=5000, help="windows to ingest per database")
    ingest.add_argument("--batch", type=int, default=500, help="messages per database transaction")
    ingest.add_argument("--no-postgres", action="store_true", help="SQLite only")
    ingest.add_argument("--workers", type=int, default=1, help="ingest processes sharing the subscription")
    ingest.set_defaults(func=_ingest)
    publish = sub.add_parser("publish", help="edge publish throughput under bandwidth caps (own Redis + broker)")
    publish.add_argument("--messages", type=int, default=600, help="buffered windows to drain per cap")
    publish.add_argument("--cap", type=int, action="append", help="bytes/s (repeatable; 0 = none); "
                         "default: none, 200000, 100000")
    publish.set_defaults(func=_publish)


def _ingest(args: argparse.Namespace) -> int:
    from devkit.bench.sync import bench_ingest

    for line in bench_ingest(args.messages, args.batch, postgres=not args.no_postgres,
                             workers=args.workers):
        print(line)
    return 0


def _publish(args: argparse.Namespace) -> int:
    from devkit.bench.sync import bench_publish

    for line in bench_publish(args.messages, args.cap or [0, 200_000, 100_000]):
        print(line)
    return 0
