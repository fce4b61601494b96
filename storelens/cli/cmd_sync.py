"""`storelens sync run` (off-peak upload of the edge buffer) and `storelens sync status`."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sync", help="upload buffered aggregates to the cloud broker")
    sub = parser.add_subparsers(dest="sync_command", required=True)
    run = sub.add_parser("run", help="publish buffered windows off-peak; heartbeat live (until SIGTERM)")
    run.set_defaults(func=_run)
    status = sub.add_parser("status", help="backlog, oldest window, last ack, next off-peak window")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)


def _run(args: argparse.Namespace) -> int:
    from edge_agent.uplink.service import run_sync
    from storelens.cli import load_cli_config
    from storelens.signals import stop_on_signals

    cfg = load_cli_config(args)
    run_sync(cfg, stop_on_signals())
    return 0


def _status(args: argparse.Namespace) -> int:
    import redis

    from edge_agent.uplink.service import sync_status
    from storelens.cli import load_cli_config
    from storelens.errors import UnavailableError

    cfg = load_cli_config(args)
    try:
        st = sync_status(cfg)
    except redis.RedisError as exc:
        raise UnavailableError(f"edge buffer {cfg.sync.redis_url}: {exc}") from None
    fields = {
        "backlog": st.backlog, "backlog_bytes": st.backlog_bytes, "pending": st.pending,
        "dropped_full": st.dropped_full, "dropped_age": st.dropped_age,
        "oldest_window": _iso(st.oldest_window), "last_ack_window": _iso(st.last_ack_window),
        "offpeak_open": st.offpeak_open, "next_offpeak": _iso(st.next_offpeak),
    }
    if args.json:
        print(json.dumps(fields))
    else:
        for name, value in fields.items():
            print(f"{name:<16} {value if value is not None else '-'}")
    return 0


def _iso(value) -> str | None:
    return value.isoformat() if value else None
