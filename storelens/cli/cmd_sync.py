"""`storelens sync run` (off-peak upload of the edge buffer) and `storelens sync status`."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sync", help="upload buffered aggregates to the cloud broker")
    sub = parser.add_subparsers(dest="sync_command", required=True)
    run = sub.add_parser("run", help="publish buffered windows off-peak; heartbeat live (until SIGTERM)")
    run.set_defaults(func=_run)
    status = sub.add_parser("status", help="backlog, sent and awaiting receipt, receipted, re-sent, next off-peak window")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)
    clear = sub.add_parser(
        "clear-clock-floor",
        help="forget the newest time this box stamped a window for: after a clock that ran ahead, stamp from the "
             "clock as it reads now (the edge app resumes at once if it was waiting)")
    clear.set_defaults(func=_clear_clock_floor)


def _run(args: argparse.Namespace) -> int:
    from edge_agent.uplink.service import run_sync
    from storelens.cli import load_cli_config
    from storelens.ops import ServiceOps
    from storelens.signals import stop_on_signals

    cfg = load_cli_config(args)
    with ServiceOps("sync", cfg.ops.host, cfg.ops.sync_port) as ops:
        run_sync(cfg, stop_on_signals(), ops)
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
        "backlog": st.backlog, "backlog_bytes": st.backlog_bytes,
        "pending": st.pending,  # read and published, broker's PUBACK not yet in
        "awaiting_receipt": st.awaiting_receipt,  # PUBACKed, ingest's receipt not yet in
        "receipted": st.receipted, "resent": st.resent, "refused_by_cloud": st.refused_by_cloud,
        "dropped_full": st.dropped_full, "dropped_age": st.dropped_age, "dropped_held": st.dropped_held,
        "dropped_clock": st.dropped_clock,
        "oldest_window": _iso(st.oldest_window), "last_ack_window": _iso(st.last_ack_window),
        "clock_floor": _iso(st.clock_floor),
        "offpeak_open": st.offpeak_open, "next_offpeak": _iso(st.next_offpeak),
    }
    if args.json:
        print(json.dumps(fields))
    else:
        for name, value in fields.items():
            print(f"{name:<17} {value if value is not None else '-'}")
    return 0


def _clear_clock_floor(args: argparse.Namespace) -> int:
    import redis

    from edge_agent.buffer import open_buffer
    from edge_agent.resume import PartialStore
    from storelens.cli import load_cli_config
    from storelens.errors import UnavailableError

    cfg = load_cli_config(args)
    try:
        buffer = open_buffer(cfg)
        cleared = PartialStore(buffer.client, stream=buffer.stream).clear_floor()
    except redis.RedisError as exc:
        raise UnavailableError(f"edge buffer {cfg.sync.redis_url}: {exc}") from None
    if cleared is None:
        print("no clock floor was set: windows are stamped from the clock")
    else:
        print(f"clock floor cleared (the newest window stamped reached {cleared.isoformat()}): "
              "windows are stamped from the clock as it reads now")
    return 0


def _iso(value) -> str | None:
    return value.isoformat() if value else None
